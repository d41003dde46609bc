# nixos/modules/services/networking/wireguard.nix and wireguard-networkd.nix (25.11/26.05).
{ lib, config, ... }:
let
  inherit (import ./options.nix { inherit lib; }) mkOption types option nullOr listOf bool each;

  peerOptions =
    { config, ... }:
    {
      options = {
        # The peer's unit name part: its public key, escaped like a systemd path.
        name = option types.str (
          lib.replaceStrings [ "/" "-" " " "+" "=" ] [ "-" "\\x2d" "\\x20" "\\x2b" "\\x3d" ] config.publicKey
        );
        publicKey = mkOption { type = types.singleLineStr; };
        allowedIPs = mkOption { type = types.listOf types.str; };
      }
      // each (nullOr types.str) [
        "presharedKey"
        "presharedKeyFile"
        "endpoint"
      ]
      // each (nullOr types.int) [
        "persistentKeepalive"
        "dynamicEndpointRefreshSeconds"
      ];
    };

  # preSetup, postSetup, ...: lines, or a list of lines joined.
  hook = option (types.coercedTo (types.listOf types.str) (lib.concatStringsSep "\n") types.lines) "";

  interfaceOptions = {
    options = {
      ips = listOf types.str;
      generatePrivateKeyFile = bool false;
      table = option types.str "main";
      peers = listOf (types.submodule peerOptions);
      allowedIPsAsRoutes = bool true;
      dynamicEndpointRefreshSeconds = option types.int 0;
      type = option (types.enum [
        "wireguard"
        "amneziawg"
      ]) "wireguard";
    }
    // each hook [
      "preSetup"
      "postSetup"
      "preShutdown"
      "postShutdown"
    ]
    // each (nullOr types.str) [
      "privateKey"
      "privateKeyFile"
      "socketNamespace"
      "interfaceNamespace"
      "fwMark"
    ]
    // each (nullOr types.int) [
      "listenPort"
      "mtu"
      "metric"
    ];
  };
in
{
  options.networking.wireguard = {
    enable = bool (config.networking.wireguard.interfaces != { });
    useNetworkd = bool config.networking.useNetworkd;
    interfaces = option (types.attrsOf (types.submodule interfaceOptions)) { };
  };
}
