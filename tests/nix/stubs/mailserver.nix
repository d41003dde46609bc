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
    services.rspamd.enable = true;
    services.kresd.enable = lib.mkDefault cfg.localDnsResolver;
  };
}
