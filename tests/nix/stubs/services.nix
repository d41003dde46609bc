# The mail services the home module looks at: nixos/modules/services/mail/{postfix,rspamd}.nix,
# networking/kresd.nix, databases/redis.nix (only the options it uses; dovecot: ./dovecot.nix).
{
  lib,
  config,
  pkgs,
  ...
}:
let
  inherit (lib) mkEnableOption mkOption types;

  redisServerOptions =
    { name, config, ... }:
    {
      options = {
        enable = mkEnableOption "redis server ${name}";
        port = mkOption {
          type = types.port;
          default = if name == "" then 6379 else 0;
        };
        unixSocket = mkOption {
          type = types.nullOr types.path;
          default = "/run/redis${lib.optionalString (name != "") "-${name}"}/redis.sock";
        };
        user = mkOption {
          type = types.str;
          default = "redis${lib.optionalString (name != "") "-${name}"}";
        };
        group = mkOption {
          type = types.str;
          default = config.user;
        };
      };
    };

  rspamdFileOptions = {
    options = import ./file-options.nix { inherit lib; };
  };
in
{
  options.services = {
    postfix = {
      enable = mkEnableOption "postfix";
      package = mkOption {
        type = types.package;
        default = pkgs.postfix;
      };
      # Tables compiled with postmap into /var/lib/postfix/conf/<name>.
      mapFiles = mkOption {
        type = types.attrsOf types.path;
        default = { };
      };
      enableSubmissions = mkOption {
        type = types.bool;
        default = false;
      };
      # `-o name=value` of the submissions (465) service in master.cf.
      submissionsOptions = mkOption {
        type = types.attrsOf types.str;
        default = {
          smtpd_sasl_auth_enable = "yes";
          smtpd_client_restrictions = "permit_sasl_authenticated,reject";
          milter_macro_daemon_name = "ORIGINATING";
        };
      };
      # main.cf is settings.main (NixOS 25.11 and later; services.postfix.config before): what
      # main.cf can hold, a freeform submodule of these values (nixpkgs declares some of its
      # settings as options too; these tests set none of those).
      settings = mkOption {
        type = types.submodule {
          freeformType = types.attrsOf types.anything;
          options.main = mkOption {
            type = types.submodule {
              freeformType = types.attrsOf (
                types.nullOr (
                  types.oneOf [
                    types.bool
                    types.int
                    types.path
                    types.str
                    (types.listOf types.str)
                  ]
                )
              );
            };
            default = { };
          };
        };
        default = { };
      };
    };
    # knot-resolver 5: units kresd@1 ... kresd@<instances>.
    kresd = {
      enable = mkEnableOption "knot-resolver 5";
      extraConfig = mkOption {
        type = types.lines;
        default = "";
      };
      listenPlain = mkOption {
        type = types.listOf types.str;
        default = [
          "[::1]:53"
          "127.0.0.1:53"
        ];
      };
      instances = mkOption {
        type = types.ints.unsigned;
        default = 1;
      };
    };
    knot-resolver = {
      enable = mkEnableOption "knot-resolver 6";
      # Its YAML configuration as Nix values (RFC 42).
      settings = mkOption {
        type = types.submodule { freeformType = types.attrsOf types.anything; };
        default = { };
      };
    };
    rspamd = {
      enable = mkEnableOption "rspamd";
      locals = mkOption {
        type = types.attrsOf (types.submodule rspamdFileOptions);
        default = { };
      };
    };
    redis.servers = mkOption {
      type = types.attrsOf (types.submodule redisServerOptions);
      default = { };
    };
  };

  config = {
    # What nixpkgs' kresd and knot-resolver modules do (services/networking/{kresd,knot-resolver}.nix).
    networking.resolvconf.useLocalResolver = lib.mkIf (
      config.services.kresd.enable || config.services.knot-resolver.enable
    ) (lib.mkDefault true);
  };
}
