# The module arguments NixOS passes besides config/lib/options: `pkgs` (only the packages the
# modules name, as fake derivations with recognisable store paths) and `utils`.
{ lib, ... }:
let
  fakePackage = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };
in
{
  _module.args = {
    pkgs =
      lib.genAttrs [
        "iproute2"
        "util-linux"
        "procps"
        "bash"
        "nftables"
        "curl"
        "openssl"
        "knot-dns"
        "pebble"
        "wireguard-tools"
        "dovecot_pigeonhole"
      ] fakePackage
      // {
        writeText = name: text: fakePackage name // { inherit text; };
        linkFarm = name: entries: fakePackage name // { inherit entries; };
      };
    # nixos/lib/utils.nix
    utils.escapeSystemdPath =
      path:
      lib.replaceStrings
        [
          "/"
          "-"
          " "
        ]
        [
          "-"
          "\\x2d"
          "\\x20"
        ]
        (lib.removePrefix "/" path);
  };
}
