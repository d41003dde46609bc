# simple-nixos-mailserver 26.05, as far as the home module and hosts/home see it: `mailserver.*`
# (freeform beyond the options the home module reads) and the services it turns on. Not part of
# ./default.nix: the home module must also work without it.
{ lib, config, ... }:
let
  cfg = config.mailserver;
in
{
  options.mailserver = lib.mkOption {
    type = lib.types.submodule {
      freeformType = lib.types.attrsOf lib.types.anything;
      options = {
        enable = lib.mkEnableOption "nixos-mailserver";
        localDnsResolver = lib.mkOption {
          type = lib.types.bool;
          default = true;
        };
        x509.useACMEHost = lib.mkOption {
          type = lib.types.nullOr lib.types.str;
          default = null;
          description = "Name of the security.acme.certs certificate postfix and dovecot use.";
        };
      };
    };
    default = { };
    description = "simple-nixos-mailserver.";
  };

  # What simple-nixos-mailserver enables (mail-server/*.nix).
  config = lib.mkIf cfg.enable {
    services.postfix.enable = true;
    services.dovecot2.enable = true;
    # What nixpkgs' dovecot module needs of it (simple-nixos-mailserver renders dovecot through
    # settings on 2.4, or pins 2.3: the tests run both): the owner of the mail (its vmail user)
    # and, on 2.4, the configuration and storage versions.
    services.dovecot2.settings = lib.mkMerge [
      {
        mail_uid = lib.mkDefault "virtualMail";
        mail_gid = lib.mkDefault "virtualMail";
      }
      (lib.mkIf (!lib.versionOlder config.services.dovecot2.package.version "2.4") {
        dovecot_config_version = lib.mkDefault config.services.dovecot2.package.version;
        dovecot_storage_version = lib.mkDefault config.services.dovecot2.package.version;
      })
    ];
    services.rspamd.enable = true;
    services.kresd.enable = lib.mkDefault cfg.localDnsResolver;
  };
}
