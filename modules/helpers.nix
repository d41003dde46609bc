# Helpers shared by the NixOS modules of this flake (not a module itself).
{ lib }:
{
  # The programs the plans' commands name (lib/confine.nix, the gateway's proxy entries), as
  # store paths for lib.renderCommand / lib.renderUnit.
  programsOf = pkgs: {
    ip = lib.getExe' pkgs.iproute2 "ip";
    nsenter = lib.getExe' pkgs.util-linux "nsenter";
    sysctl = lib.getExe' pkgs.procps "sysctl";
    nft = lib.getExe' pkgs.nftables "nft";
  };

  # The files (other than `ownFile`) that define attribute `name` of the attrsOf option `option`,
  # e.g. another module that also defines networking.wireguard.interfaces.wg0. Their values
  # would be merged into ours silently (lists concatenated), so the modules assert there are none.
  otherDefinitionFiles =
    option: ownFile: name:
    map (definition: definition.file) (
      lib.filter (
        definition:
        definition.file != ownFile && builtins.isAttrs definition.value && definition.value ? ${name}
      ) option.definitionsWithLocations
    );

  # How NixOS names the units the modules confine, for the nixpkgs release in use. Both renames
  # happened in the 25.11 cycle: dovecot2.service became dovecot.service (nixpkgs PR #422829;
  # 26.05 asserts that systemd.services.dovecot2 is NOT set), and lego moved from acme-<cert> to
  # acme-order-renew-<cert> (nixpkgs PR #422076; acme-<cert> now only makes a placeholder).
  unitNames =
    release:
    let
      renamed = lib.versionAtLeast release "25.11";
    in
    {
      dovecot = if renamed then "dovecot" else "dovecot2";
      acmeOrder = certificate: if renamed then "acme-order-renew-${certificate}" else "acme-${certificate}";
    };

  # "<option path>: <problem>" with the option path first, like every check of lib/.
  assertionAbout = path: assertion: message: {
    inherit assertion;
    message = "${path}: ${message}";
  };
}
