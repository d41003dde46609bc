# The mail services the home module looks at: nixos/modules/services/mail/{postfix,dovecot,
# rspamd}.nix, networking/kresd.nix, databases/redis.nix (only the options it uses).
{ lib, config, ... }:
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
      # main.cf is settings.main (NixOS 25.11 and later; services.postfix.config before).
      settings = mkOption {
        type = types.submodule {
          freeformType = types.attrsOf types.anything;
          options.main = mkOption {
            type = types.attrsOf types.anything;
            default = { };
          };
        };
        default = { };
      };
    };
    dovecot2 = {
      enable = mkEnableOption "dovecot";
      # Stage ("before", "after", ...) to the script's path, as nixpkgs declares it.
      sieve.scripts = mkOption {
        type = types.attrsOf types.path;
        default = { };
      };
      mailPlugins.perProtocol = mkOption {
        type = types.attrsOf (
          types.submodule {
            options.enable = mkOption {
              type = types.listOf types.str;
              default = [ ];
            };
          }
        );
        default = { };
      };
    };
    kresd.enable = mkEnableOption "knot-resolver";
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

  # What nixpkgs' kresd module does (services/networking/kresd.nix).
  config.networking.resolvconf.useLocalResolver = lib.mkIf config.services.kresd.enable (
    lib.mkDefault true
  );
}
