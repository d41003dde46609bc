# The defaults of an intent, so the plan functions can be called with only the options that have
# no sensible default. They equal the NixOS options' defaults; `null` marks a required value
# (its check says so when it is missing).
{ lib }:
let
  inherit (lib) util;
  inherit (builtins) isAttrs mapAttrs;
  # Both ends' tunnel: the same interface name and MTU (1420 fits a 1500-byte line); the
  # gateway listens on a fixed port, home leaves it to the kernel.
  wireguardDefaults = {
    interface = "wg0";
    mtu = 1420;
    privateKeyFile = null;
  };
in
rec {
  /**
    The defaults filled into a gateway intent; `null` marks a required option.

    # Type

    ```
    gatewayDefaults :: GatewayIntent
    ```
  */
  gatewayDefaults = {
    uplink = {
      interface = null;
      addresses = [ ];
    };
    wireguard = wireguardDefaults // {
      listenPort = 51820;
    };
    homes = { };
    forwardedPorts = {
      tcp = [ ];
      udp = [ ];
    };
    mssClamp = true;
  };

  gatewayHomeDefaults = {
    publicKey = null;
    presharedKeyFile = null;
    addresses = [ ];
  };

  /**
    The defaults filled into a home intent; `null` marks a required option.

    # Type

    ```
    homeDefaults :: HomeIntent
    ```
  */
  homeDefaults = {
    namespace = "wg";
    addresses = [ ];
    wireguard = wireguardDefaults // {
      listenPort = null;
    };
    gateway = {
      endpoint = null;
      publicKey = null;
      presharedKeyFile = null;
      persistentKeepalive = 25;
    };
    nameservers = [ "127.0.0.1" ];
    openPorts = {
      tcp = [ ];
      udp = [ ];
    };
    services = [ ];
    dropDuplicateDeliveries = true;
  };

  withGatewayDefaults =
    intent:
    let
      merged = util.recursiveUpdate gatewayDefaults intent;
    in
    merged
    // {
      homes =
        if isAttrs merged.homes then
          mapAttrs (_: home: if isAttrs home then gatewayHomeDefaults // home else home) merged.homes
        else
          merged.homes;
    };

  withHomeDefaults = intent: util.recursiveUpdate homeDefaults intent;
}
