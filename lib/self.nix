# lib/ as one fixed point: every file is a function of `{ lib }`, where `lib` is this whole set,
# so a file reaches another as `lib.<file>` (lib.util, lib.checks, ...) instead of importing it.
let
  files = [
    "addresses"
    "checks"
    "confine"
    "doctor"
    "fields"
    "gateway"
    "home"
    "intent"
    "ip"
    "names"
    "nftables"
    "pair"
    "role"
    "util"
  ];
  lib = builtins.listToAttrs (
    map (name: {
      inherit name;
      value = import (./. + "/${name}.nix") { inherit lib; };
    }) files
  );
in
lib
