# The home of vm-plain: hosts/home-plain (postfix, dovecot 2.4, rspamd, knot-resolver without
# simple-nixos-mailserver) on the test world (home-common.nix), with the test-CA certificate, the
# test account's password and the DKIM key the internet's zone publishes.
{
  lib,
  pkgs,
  world,
  ...
}:
let
  account = world.world.accounts.home;
  inherit (world.secrets.home) certificate key;
in
{
  imports = [
    ./home-common.nix
    ../../../hosts/home-plain
    (world.secrets.dkimKeyIn "/var/lib/rspamd/dkim" world.world.domains.home)
  ];

  services.postfix.settings.main.smtpd_tls_chain_files = lib.mkForce [
    key
    certificate
  ];
  services.dovecot2.settings = {
    ssl_server_cert_file = lib.mkForce certificate;
    ssl_server_key_file = lib.mkForce key;
    # Test-only password (tests/topology.nix).
    "passdb passwd-file".passwd_file_path = lib.mkForce (
      pkgs.writeText "mail-passwords" "${account}:{PLAIN}${world.world.passwords.${account}}\n"
    );
  };
}
