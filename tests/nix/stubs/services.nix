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

  fakeDovecot = version: {
    pname = "dovecot";
    inherit version;
    outPath = "/nix/store/00000000000000000000000000000000-dovecot-${version}";
    passthru.dovecot_pigeonhole = {
      pname = "dovecot-pigeonhole";
      outPath = "/nix/store/00000000000000000000000000000000-dovecot-pigeonhole-for-${version}";
    };
  };
  dovecot = config.services.dovecot2;
  dovecotPre24 = lib.versionOlder dovecot.package.version "2.4";

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
      # nixpkgs 26.05: pkgs.dovecot (2.4) from system.stateVersion 26.05 on, else dovecot_2_3.
      package = mkOption {
        type = types.raw;
        default = fakeDovecot "2.4.2";
      };
      # RFC 42 settings; a section is an attribute set ("protocol lmtp" = { ... }).
      settings = mkOption {
        type = types.attrsOf types.anything;
        default = { };
      };
      # Verbatim dovecot.conf lines (the Dovecot 2.3 face of the module).
      extraConfig = mkOption {
        type = types.lines;
        default = "";
      };
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
    kresd.enable = mkEnableOption "knot-resolver 5";
    kresd.instances = mkOption {
      type = types.int;
      default = 1;
    };
    knot-resolver.enable = mkEnableOption "knot-resolver 6";
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

    # nixpkgs' dovecot module (services/mail/dovecot.nix) refuses the 2.3-era options on 2.4.
    assertions = lib.mkIf dovecot.enable [
      {
        assertion = dovecotPre24 || dovecot.sieve.scripts == { };
        message = "services.dovecot2: Since Dovecot 2.4, the option 'services.dovecot2.sieve.scripts' is no longer valid, but it is set.";
      }
      {
        assertion = dovecotPre24 || dovecot.mailPlugins.perProtocol == { };
        message = "since Dovecot 2.4, the `mailPlugins` option is no longer used in the NixOS module, please use the `settings` option instead.";
      }
    ];
  };
}
