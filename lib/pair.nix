# Checks that need both sides: a home's intent against the gateway's intent for it. Only where both
# are known (a flake that configures both machines, the test world).
{ lib }:
let
  inherit (lib) util fields addresses;
  inherit (lib.checks) check show;
  inherit (builtins) elem filter isAttrs isList;

  inherit (util) lookup;
in
{
  /**
    Checks that need both ends: a home's intent against the gateway's intent for it (addresses,
    endpoint, MTU, ports). Only where both are known (a flake that configures both machines, the
    test world).

    # Type

    ```
    pairChecks :: { gateway :: GatewayIntent; home :: HomeIntent; homeName ? String; } -> [Check]
    ```
  */
  pairChecks =
    {
      gateway,
      home,
      homeName ? "home",
    }:
    let
      gatewayIntent = lib.gateway.intent gateway;
      homeIntent = lib.home.intent home;
      fromGateway = lookup gatewayIntent;
      fromHome = lookup homeIntent;
      peerPath = "homeMail.gateway.homes.${homeName}";
      known = isAttrs (fromGateway [ "homes" ]) && (fromGateway [ "homes" ]) ? ${homeName};
      listOf = value: if isList value then value else [ ];

      forwarded = addresses.hostAddresses (fromGateway [ "homes" homeName "addresses" ]);
      held = addresses.hostAddresses (fromHome [ "addresses" ]);
      forwardedAll = forwarded.ipv4 ++ forwarded.ipv6;
      heldAll = held.ipv4 ++ held.ipv6;

      endpoint = fields.parseEndpoint (fromHome [ "gateway" "endpoint" ]);
      uplinkAddresses = addresses.normalizedAddresses (fromGateway [ "uplink" "addresses" ]);
      listenPort = fromGateway [ "wireguard" "listenPort" ];

      portChecks =
        protocol:
        let
          open = listOf (fromHome [ "openPorts" protocol ]);
          passed = listOf (fromGateway [ "forwardedPorts" protocol ]);
        in
        map (
          port:
          check "homeMail.home.openPorts.${protocol}" false "port ${show port} is open at home but not in homeMail.gateway.forwardedPorts.${protocol}, so the internet cannot reach it; add it there or remove it here"
        ) (filter (port: !elem port passed) open)
        ++ map (
          port:
          check "homeMail.gateway.forwardedPorts.${protocol}" false "port ${show port} is forwarded but not in homeMail.home.openPorts.${protocol}, so the home's firewall drops it; add it there or remove it here"
        ) (filter (port: !elem port open) passed);
    in
    [
      (check "homeMail.gateway.homes" known "has no home ${show homeName}; add homes.${homeName} with the home's public key and addresses")
    ]
    ++ (
      if !known then
        [ ]
      else
        map (
          address:
          check "homeMail.home.addresses" false "${address} is not forwarded by the gateway (${peerPath}.addresses); add it there, or remove it here"
        ) (filter (address: !elem address forwardedAll) heldAll)
        ++ map (
          address:
          check "${peerPath}.addresses" false "${address} is forwarded to the home, but homeMail.home.addresses does not hold it; add it there, or remove it here"
        ) (filter (address: !elem address heldAll) forwardedAll)
    )
    ++ [
      (check "homeMail.home.gateway.endpoint" (
        !endpoint.valid || uplinkAddresses == [ ] || elem endpoint.address uplinkAddresses
      ) "${endpoint.address or ""} is not one of the gateway's addresses (homeMail.gateway.uplink.addresses: ${util.quotedList uplinkAddresses}); use one of those")
      (check "homeMail.home.gateway.endpoint" (
        !endpoint.valid || endpoint.port == listenPort
      ) "port ${toString (endpoint.port or "")} is not the gateway's homeMail.gateway.wireguard.listenPort (${show listenPort}); use ${show listenPort}")
      (check "homeMail.home.wireguard.mtu" (
        fromHome [ "wireguard" "mtu" ] == fromGateway [ "wireguard" "mtu" ]
      ) "${show (fromHome [ "wireguard" "mtu" ])} differs from homeMail.gateway.wireguard.mtu (${
        show (fromGateway [ "wireguard" "mtu" ])
      }); give both ends the same MTU: with a mismatch, large transfers towards home stall where ICMP is filtered")
    ]
    ++ portChecks "tcp"
    ++ portChecks "udp";
}
