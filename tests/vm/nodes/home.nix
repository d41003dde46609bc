# The home: hosts/home (simple-nixos-mailserver for example.org) on the test world (home-common.nix),
# with a test-CA certificate for postfix and dovecot (the lab's choice too: every machine trusts
# that CA) and the DKIM key the internet's zone publishes.
{
  lib,
  pkgs,
  world,
  mailserverModule,
  ...
}:
let
  account = world.world.accounts.home;
in
{
  imports = [
    mailserverModule
    ./home-common.nix
    ../../../hosts/home
    # simple-nixos-mailserver keeps an existing key in its key directory instead of generating one.
    (world.secrets.dkimKeyIn "/var/dkim" world.world.domains.home)
  ];

  mailserver = {
    x509 = {
      useACMEHost = lib.mkForce null;
      certificateFile = world.secrets.home.certificate;
      privateKeyFile = world.secrets.home.key;
    };
    # Test-only password (tests/topology.nix), as a managed cleartext password file.
    accounts = lib.mkForce {
      ${account}.passwordFile = pkgs.writeText "${account}-password" world.world.passwords.${account};
    };
  };
}
