# The mail services the home module looks at: nixos/modules/services/mail/{postfix,rspamd}.nix,
# networking/kresd.nix, databases/redis.nix (only the options it uses; dovecot: ./dovecot.nix).
{
  lib,
  config,
  pkgs,
  ...
}:
let
  inherit (lib) mkEnableOption;
  inherit (import ./options.nix { inherit lib; }) mkOption types option attrsOf bool file;

  redisServerOptions =
    { name, config, ... }:
    {
      options = {
        enable = mkEnableOption "redis server ${name}";
        port = option types.port (if name == "" then 6379 else 0);
        unixSocket = option (types.nullOr types.path) "/run/redis${lib.optionalString (name != "") "-${name}"}/redis.sock";
        user = option types.str "redis${lib.optionalString (name != "") "-${name}"}";
        group = option types.str config.user;
      };
    };

  rspamdFileOptions = {
    options = file;
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
      mapFiles = attrsOf types.path;
      enableSubmissions = bool false;
      # `-o name=value` of the submissions (465) service in master.cf.
      submissionsOptions = option (types.attrsOf types.str) {
        smtpd_sasl_auth_enable = "yes";
        smtpd_client_restrictions = "permit_sasl_authenticated,reject";
        milter_macro_daemon_name = "ORIGINATING";
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
      extraConfig = option types.lines "";
      listenPlain = option (types.listOf types.str) [
        "[::1]:53"
        "127.0.0.1:53"
      ];
      instances = option types.ints.unsigned 1;
    };
    knot-resolver = {
      enable = mkEnableOption "knot-resolver 6";
      # Its YAML configuration as Nix values (RFC 42).
      settings = option (types.submodule { freeformType = types.attrsOf types.anything; }) { };
    };
    rspamd = {
      enable = mkEnableOption "rspamd";
      locals = attrsOf (types.submodule rspamdFileOptions);
    };
    redis.servers = attrsOf (types.submodule redisServerOptions);
  };

  config = {
    # What nixpkgs' kresd and knot-resolver modules do (services/networking/{kresd,knot-resolver}.nix).
    networking.resolvconf.useLocalResolver = lib.mkIf (
      config.services.kresd.enable || config.services.knot-resolver.enable
    ) (lib.mkDefault true);
  };
}
