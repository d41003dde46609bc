# rspamd and its redis stay in the host's namespace and talk over a unix socket.
arguments@{ config, lib, ... }:
let
  inherit (import ./context.nix arguments) cfg;
  redis = config.services.redis.servers.rspamd;
  weakDefault = lib.mkOverride 1100;
in
{
  _file = toString ./rspamd.nix;

  config = lib.mkIf (cfg.enable && config.services.rspamd.enable && cfg.rspamdRedisOverUnixSocket) {
    # Weaker than mkDefault: a mail server module's own defaults win instead of clashing (a
    # port) or being concatenated with ours (the lines of redis.conf).
    services.redis.servers.rspamd = {
      enable = weakDefault true;
      port = weakDefault 0;
    };
    services.rspamd.locals."redis.conf".text = weakDefault ''
      servers = "${redis.unixSocket}";
    '';
    systemd.services.rspamd.serviceConfig.SupplementaryGroups = [ (redis.group or redis.user) ];
  };
}
