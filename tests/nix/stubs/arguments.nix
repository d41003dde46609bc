# The module arguments NixOS passes besides config/lib/options: `pkgs` (only the packages the
# modules name, as fake derivations with recognisable store paths) and `utils`.
{ lib, ... }:
let
  fakePackage = name: {
    type = "derivation";
    inherit name;
    outPath = "/nix/store/00000000000000000000000000000000-${name}";
  };
  # pkgs.dovecot is Dovecot 2.4 in nixos-26.05, pkgs.dovecot_2_3 the older generation; each has
  # the pigeonhole (sieve) plugin built for it.
  fakeDovecot =
    name: version:
    fakePackage "${name}-${version}"
    // {
      pname = "dovecot";
      inherit version;
      passthru.dovecot_pigeonhole = fakePackage "dovecot-pigeonhole-for-${version}";
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
        "postfix"
      ] fakePackage
      // {
        dovecot = fakeDovecot "dovecot" "2.4.2";
        dovecot_2_3 = fakeDovecot "dovecot_2_3" "2.3.21";
        writeText = name: text: fakePackage name // { inherit text; };
        linkFarm = name: entries: fakePackage name // { inherit entries; };
        # Only for the doctor's package (pkgs/home-mail-doctor/package.nix), not evaluated here.
        callPackage = file: _: fakePackage (baseNameOf (dirOf file));
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
