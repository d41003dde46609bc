# How NixOS names the units the modules confine, for the nixpkgs release in use.
{ lib }:
{
  # Both renames happened in the 25.11 cycle: dovecot2.service became dovecot.service (nixpkgs PR
  # #422829; 26.05 asserts that systemd.services.dovecot2 is NOT set), and lego moved from
  # acme-<cert> to acme-order-renew-<cert> (nixpkgs PR #422076; acme-<cert> now only makes a
  # placeholder).
  unitNames =
    release:
    let
      renamed = lib.versionAtLeast release "25.11";
    in
    {
      dovecot = if renamed then "dovecot" else "dovecot2";
      acmeOrder = certificate: if renamed then "acme-order-renew-${certificate}" else "acme-${certificate}";
    };
}
