# nixos/modules/services/networking/wireguard.nix and wireguard-networkd.nix (25.11/26.05).
{ lib, config, ... }:
let
  inherit (lib) mkOption types;

  peerOptions =
    { config, ... }:
    {
      options = {
        name = mkOption {
          type = types.str;
          default =
            lib.replaceStrings
              [
                "/"
                "-"
                " "
                "+"
                "="
              ]
              [
                "-"
                "\\x2d"
                "\\x20"
                "\\x2b"
                "\\x3d"
              ]
              config.publicKey;
        };
        publicKey = mkOption { type = types.singleLineStr; };
        presharedKey = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
        presharedKeyFile = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
        allowedIPs = mkOption { type = types.listOf types.str; };
        endpoint = mkOption {
          type = types.nullOr types.str;
          default = null;
        };
        persistentKeepalive = mkOption {
          type = types.nullOr types.int;
          default = null;
        };
        dynamicEndpointRefreshSeconds = mkOption {
          type = types.nullOr types.int;
          default = null;
        };
      };
    };

  hook = mkOption {
    type = types.coercedTo (types.listOf types.str) (lib.concatStringsSep "\n") types.lines;
    default = "";
  };

  interfaceOptions = {
    options = {
      ips = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      privateKey = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
      privateKeyFile = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
      generatePrivateKeyFile = mkOption {
        type = types.bool;
        default = false;
      };
      listenPort = mkOption {
        type = types.nullOr types.int;
        default = null;
      };
      preSetup = hook;
      postSetup = hook;
      preShutdown = hook;
      postShutdown = hook;
      table = mkOption {
        type = types.str;
        default = "main";
      };
      peers = mkOption {
        type = types.listOf (types.submodule peerOptions);
        default = [ ];
      };
      allowedIPsAsRoutes = mkOption {
        type = types.bool;
        default = true;
      };
      socketNamespace = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
      interfaceNamespace = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
      fwMark = mkOption {
        type = types.nullOr types.str;
        default = null;
      };
      mtu = mkOption {
        type = types.nullOr types.int;
        default = null;
      };
      metric = mkOption {
        type = types.nullOr types.int;
        default = null;
      };
      dynamicEndpointRefreshSeconds = mkOption {
        type = types.int;
        default = 0;
      };
      type = mkOption {
        type = types.enum [
          "wireguard"
          "amneziawg"
        ];
        default = "wireguard";
      };
    };
  };
in
{
  options.networking.wireguard = {
    enable = mkOption {
      type = types.bool;
      default = config.networking.wireguard.interfaces != { };
    };
    useNetworkd = mkOption {
      type = types.bool;
      default = config.networking.useNetworkd;
    };
    interfaces = mkOption {
      type = types.attrsOf (types.submodule interfaceOptions);
      default = { };
    };
  };
}
