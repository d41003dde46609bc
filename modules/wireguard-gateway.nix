# The gateway (vServer) side: homeMail.gateway.
#
# Public addresses rented with the vServer are forwarded, unchanged and without NAT, to homes over
# WireGuard: a route per address into the tunnel (the peer's allowedIPs), proxy ARP (IPv4) and
# one proxy NDP entry per IPv6 address on the uplink so the provider's router delivers them here,
# forwarding, and an nftables table that lets the internet open only the forwarded ports at home,
# lets homes send only from their addresses, and clamps TCP MSS to the tunnel.
#
# Everything comes from the gateway plan of lib/ (docs/design.md).
{
  config,
  lib,
  pkgs,
  options,
  ...
}:
let
  inherit (lib)
    literalExpression
    mapAttrs
    mkEnableOption
    mkForce
    mkIf
    mkOption
    optional
    types
    ;
  homeMailLib = import ../lib;
  helpers = import ./helpers/options.nix { inherit lib; };
  render = import ./helpers/render.nix { inherit lib; };
  definitions = import ./helpers/definitions.nix { inherit lib; };
  ownFile = toString ./wireguard-gateway.nix;

  cfg = config.homeMail.gateway;
  # The option defaults are lib/'s intent defaults (lib/intent.nix), written there once.
  defaults = homeMailLib.gatewayDefaults;
  homeDefaults = (import ../lib/self.nix).intent.gatewayHomeDefaults;
  root = "homeMail.gateway";
  programs = render.programsOf pkgs;

  addressesOf =
    interface:
    let
      settings = config.networking.interfaces.${interface} or null;
      render = address: "${address.address}/${toString address.prefixLength}";
    in
    if settings == null then [ ] else map render (settings.ipv4.addresses ++ settings.ipv6.addresses);

  intent = {
    uplink = {
      inherit (cfg.uplink) interface addresses;
    };
    wireguard = {
      inherit (cfg.wireguard)
        interface
        listenPort
        mtu
        privateKeyFile
        ;
    };
    homes = mapAttrs (_: home: {
      inherit (home) publicKey presharedKeyFile addresses;
    }) cfg.homes;
    forwardedPorts = {
      inherit (cfg.forwardedPorts) tcp udp;
    };
    inherit (cfg) mssClamp;
  };
  plan = homeMailLib.gatewayPlan intent;

  shellLine = render.shellLine programs;

  homeOptions =
    { name, ... }:
    {
      options = {
        inherit
          (helpers.peerKeyOptions {
            defaults = homeDefaults;
            peer = "home `${name}`";
            where = "at home";
            examples = {
              publicKey = "pL6sgVmg/yaxBGFUB+AKsgr5LNHMGD9IfCIhiS9FRxg=";
              presharedKeyFile = "/etc/wireguard/${name}.psk";
            };
          })
          publicKey
          presharedKeyFile
          ;
        addresses = mkOption {
          type = types.listOf types.str;
          default = homeDefaults.addresses;
          example = [
            "198.51.100.11/32"
            "2001:db8:1::11/128"
          ];
          description = ''
            The public addresses forwarded to this home, as single addresses (`/32`, `/128`).
            They must not be configured on the uplink (the gateway answers for them by proxy ARP
            and NDP instead), and must equal `homeMail.home.addresses` at the home.
          '';
        };
      };
    };
in
{
  _file = ownFile;

  imports = [ ./doctor.nix ];

  options.homeMail.gateway = {
    enable = mkEnableOption "the gateway: forward public addresses to homes over WireGuard, without NAT";

    uplink = {
      interface = mkOption {
        type = types.str;
        example = "eth0";
        description = "The interface that owns the public addresses (the vServer's NIC). Required.";
      };
      addresses = mkOption {
        type = types.listOf types.str;
        default = addressesOf cfg.uplink.interface;
        defaultText = lib.literalMD "the static IPv4 and IPv6 addresses of `networking.interfaces.<uplink.interface>`, as `\"address/prefixLength\"`";
        example = [
          "198.51.100.10/24"
          "2001:db8:1::10/64"
        ];
        description = ''
          The gateway's own addresses on the uplink (with prefix length). Only used to check that
          no forwarded address is also one of the gateway's own.
        '';
      };
    };

    wireguard = helpers.wireguardOptions {
      defaults = defaults.wireguard;
      keyOwner = "the gateway's";
      interface = {
        example = "wg-homes";
        description = "Name of the WireGuard interface towards the homes.";
      };
      listenPort = mkOption {
        type = types.port;
        default = defaults.wireguard.listenPort;
        example = 51821;
        description = "UDP port the homes connect to (their `homeMail.home.gateway.endpoint`).";
      };
    };

    homes = mkOption {
      type = types.attrsOf (types.submodule homeOptions);
      default = defaults.homes;
      example = literalExpression ''
        {
          home = {
            publicKey = "pL6sgVmg/yaxBGFUB+AKsgr5LNHMGD9IfCIhiS9FRxg=";
            addresses = [ "198.51.100.11/32" "2001:db8:1::11/128" ];
          };
        }
      '';
      description = "The homes (one WireGuard peer each) and the addresses forwarded to them.";
    };

    forwardedPorts = {
      tcp = mkOption {
        type = types.listOf types.port;
        default = defaults.forwardedPorts.tcp;
        example = [
          25
          80
          465
          993
        ];
        description = "TCP ports the internet may open on the forwarded addresses (everything else towards the homes is dropped here).";
      };
      udp = mkOption {
        type = types.listOf types.port;
        default = defaults.forwardedPorts.udp;
        example = [ 443 ];
        description = "UDP ports the internet may open on the forwarded addresses.";
      };
    };

    mssClamp = mkOption {
      type = types.bool;
      default = defaults.mssClamp;
      example = false;
      description = ''
        Clamp the TCP MSS of connections through the tunnel to what fits it, so a path MTU
        blackhole (filtered ICMP) cannot stall large transfers to or from a home.
      '';
    };

    openFirewall = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = "Open the WireGuard listen port in networking.firewall.";
    };

    inherit
      (helpers.planOptions {
        end = "gateway";
        otherEnd = "a home's";
      })
      plan
      intent
      ;
  };

  config = mkIf cfg.enable {
    homeMail.gateway = {
      inherit plan intent;
    };

    assertions = homeMailLib.gatewayChecks intent ++ [
      (definitions.wireguardInterfaceOnlyHere {
        inherit options ownFile root;
        inherit (cfg.wireguard) interface;
      })
    ];

    warnings = optional (cfg.uplink.addresses == [ ]) "${root}.uplink.addresses: is empty (networking.interfaces.${cfg.uplink.interface} has no static addresses), so nothing checks that the forwarded addresses are not also the gateway's own; list the uplink's addresses";

    # The plan describes the script backend: its peer units install the allowedIPs as routes
    # (proxy ARP answers only for addresses routed into the tunnel), as the lab does; networkd's
    # backend would need other settings. The home must use the script backend anyway.
    networking.wireguard.useNetworkd = mkForce false;

    networking.wireguard.interfaces.${cfg.wireguard.interface} = render.wireguardInterface plan.wireguard // {
      # Remember home's endpoint across a restart of the interface (see lib/gateway.nix).
      # Service scripts have no `sh` on PATH: the program by its store path, like renderCommand.
      postSetup = map shellLine plan.wireguard.postSetup;
    };

    boot.kernel.sysctl = plan.sysctl;

    networking.nftables.enable = true;
    networking.nftables.tables.${plan.nftables.name} = {
      inherit (plan.nftables) family content;
    };

    networking.firewall.allowedUDPPorts = mkIf cfg.openFirewall plan.firewall.allowedUDPPorts;

    # The units that remember home's endpoint (plan.units): the peer units save it when they stop
    # (preStop runs before the peer unit's postStop removes the peer), a loop saves it while the
    # interface is up. Their commands become scripts (render.planUnits). The proxy NDP unit
    # (plan.proxyNdp, lib/gateway.nix) is bound to the uplink device.
    systemd.services = render.planUnits pkgs (plan.units // plan.proxyNdp.units);
  };
}
