# `import ./evaluate.nix { modules = [ ... ]; specialArgs = { ... }; }`: the modules evaluated with
# nixpkgs' lib.evalModules against the stand-in NixOS options of this directory (used by
# tests/nix/test_modules.py and test_flake.py).
{
  modules,
  specialArgs ? { },
}:
let
  lib = import <nixpkgs/lib>;
in
lib.evalModules {
  modules = import ./. ++ modules;
  inherit specialArgs;
}
