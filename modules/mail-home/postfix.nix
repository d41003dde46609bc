# postfix: the plan's main.cf settings for exactly-once delivery (plan.delivery.postfixMain).
arguments@{
  config,
  lib,
  options,
  ...
}:
let
  inherit (import ./context.nix arguments) cfg plan;
in
{
  _file = toString ./postfix.nix;

  config = lib.mkIf (cfg.enable && config.services.postfix.enable && plan.delivery.postfixMain != { }) {
    # main.cf is services.postfix.settings.main since NixOS 25.11, services.postfix.config before.
    services.postfix =
      let
        settings = lib.mapAttrs (_: lib.mkDefault) plan.delivery.postfixMain;
      in
      if options.services.postfix ? settings then { settings.main = settings; } else { config = settings; };
  };
}
