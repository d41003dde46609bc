# Every unit name and path the plans hand out, built here once: the plans, the modules and
# lib/confine.nix read them from here, the lab and the doctor from the plans.
{ lib }:
{
  /**
    The names of network namespace `name`: its systemd.services attribute (an instance of the
    template `netns@`), its unit, its file under /run/netns and its files under /etc, relative
    (environment.etc) and absolute.

    # Type

    ```
    netns :: String -> { service :: String; unit :: String; path :: String; etc :: { resolvConf; ruleset; }; files :: { resolvConf; ruleset; }; }
    ```
  */
  netns =
    name:
    let
      etc = {
        resolvConf = "netns/${name}/resolv.conf";
        # Beside, not inside, /etc/netns/<name>/: `ip netns exec` bind-mounts every file in there
        # over /etc and would complain about a ruleset file that has no counterpart in /etc.
        ruleset = "netns/${name}.nft";
      };
    in
    rec {
      service = "${lib.names.netnsTemplate}${name}";
      unit = "${service}.service";
      path = "/run/netns/${name}";
      inherit etc;
      files = builtins.mapAttrs (_: path: "/etc/${path}") etc;
    };

  # The template unit that creates namespaces (systemd.services attribute).
  netnsTemplate = "netns@";

  /**
    The names that come with WireGuard interface `interface`: the units of
    networking.wireguard.interfaces.<interface> (the interface's and one per peer, as
    systemd.services attributes and as units), and the gateway's endpoint memory.

    # Type

    ```
    wireguard :: String -> { service; unit; peerService :: String -> String; peerUnit :: String -> String; endpointSaver; endpointFile; }
    ```
  */
  wireguard = interface: rec {
    service = "wireguard-${interface}";
    unit = "${service}.service";
    peerService = peer: "${service}-peer-${peer}";
    peerUnit = peer: "${peerService peer}.service";
    endpointSaver = "home-mail-endpoints-${interface}";
    endpointFile = "/var/lib/home-mail/${interface}-endpoints";
  };

  # The gateway's unit that keeps the proxy NDP entries on the uplink.
  proxyNdp = "home-mail-proxy-ndp";

  # The device unit of network interface `interface`, escaped as systemd-escape does.
  deviceUnit = interface: "sys-subsystem-net-devices-${lib.util.systemdEscape interface}.device";
}
