# The mail namespace: the WireGuard interface created in the host's namespace (its UDP socket uses
# the ISP line) and moved into homeMail.home.namespace, the namespace's units and files, and the
# services confined to it. All from the home plan of lib/: its units and namespace.etc rendered
# the way the gateway's units are (helpers/render.nix planUnits).
arguments@{
  lib,
  options,
  pkgs,
  ...
}:
let
  context = import ./context.nix arguments;
  inherit (context)
    homeMailLib
    cfg
    root
    plan
    unitNames
    definitions
    ;
  render = import ../helpers/render.nix { inherit lib; };
  ownFile = toString ./confinement.nix;
in
{
  _file = ownFile;

  config = lib.mkIf cfg.enable {
    homeMail.home = {
      inherit (context) intent;
      plan = homeMailLib.homePlan context.intent;
      inherit (plan) confinedServices;
    };

    assertions =
      homeMailLib.homeChecks context.intent
      ++ [
        (definitions.wireguardInterfaceOnlyHere {
          inherit options ownFile root;
          inherit (cfg.wireguard) interface;
        })
        (definitions.definedOnlyHere {
          option = options.homeMail.netns;
          attribute = "homeMail.netns";
          name = cfg.namespace;
          inherit ownFile;
          path = "${root}.namespace";
          fix = "${root} manages this namespace: choose another ${root}.namespace, and confine more services with ${root}.extraConfinedServices instead";
        })
      ]
      ++ lib.optionals (unitNames.dovecot != "dovecot2") [
        (definitions.assertionAbout "${root}.extraConfinedServices" (
          !builtins.elem "dovecot2" cfg.extraConfinedServices
        ) "\"dovecot2\" is called dovecot.service since NixOS 25.11, and it is confined automatically when services.dovecot2.enable is set; remove \"dovecot2\"")
      ];

    # systemd-networkd cannot create an interface in one namespace and move it to another.
    networking.wireguard.useNetworkd = lib.mkForce false;

    networking.wireguard.interfaces.${cfg.wireguard.interface} = render.wireguardInterface plan.wireguard // {
      # Removes a leftover WireGuard interface of this name from the host's namespace and refuses
      # one of another type (lib/home.nix), before the unit creates the interface there.
      preSetup = map (render.shellLine (render.programsOf pkgs)) plan.wireguard.preSetup;
    };

    # The plan's units (the namespace's, the interface's, the confined services') and the
    # namespace's files, rendered as the gateway's are (render.planUnits).
    systemd.services = lib.mkMerge [
      (render.planUnits pkgs plan.units)
      {
        # The ruleset and resolv.conf are files, not part of the unit: restart on their change.
        ${lib.removeSuffix ".service" plan.namespace.unit}.restartTriggers = lib.attrValues plan.namespace.etc;
      }
    ];
    environment.etc = lib.mapAttrs (_: text: { inherit text; }) plan.namespace.etc;
  };
}
