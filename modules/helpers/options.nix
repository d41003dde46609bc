# Option declarations both ends share (not a module itself).
{ lib }:
{
  # The options of the WireGuard interface, as both ends declare them (homeMail.gateway.wireguard,
  # homeMail.home.wireguard): the same names, types and MTU; each end says whose key it is, names
  # and describes its interface, and declares its own listenPort (the gateway listens on a fixed
  # port, home may let the kernel choose).
  wireguardOptions =
    {
      defaults,
      keyOwner,
      interface,
      listenPort,
    }:
    {
      interface = lib.mkOption (
        {
          type = lib.types.str;
          default = defaults.interface;
        }
        // interface
      );
      inherit listenPort;
      mtu = lib.mkOption {
        type = lib.types.int;
        default = defaults.mtu;
        example = 1412;
        description = "MTU of the WireGuard interface; give both ends the same value (1420 fits a 1500-byte line, 1412 PPPoE).";
      };
      privateKeyFile = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = defaults.privateKeyFile;
        example = "/etc/wireguard/wg0.key";
        description = ''
          Path of a root-only file holding ${keyOwner} WireGuard private key, outside the Nix
          store (`umask 077; wg genkey > /etc/wireguard/wg0.key`). Required.
        '';
      };
    };

  # The keys of the WireGuard peer at the other end (the gateway at home, each home at the
  # gateway): its public key and the optional preshared key both ends share.
  peerKeyOptions =
    {
      defaults,
      peer,
      where,
      examples,
    }:
    {
      publicKey = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = defaults.publicKey;
        example = examples.publicKey;
        description = "The WireGuard public key of ${peer} (`wg pubkey < private.key` ${where}). Required.";
      };
      presharedKeyFile = lib.mkOption {
        type = lib.types.nullOr lib.types.str;
        default = defaults.presharedKeyFile;
        example = examples.presharedKeyFile;
        description = "Optional root-only file with a preshared key shared with ${peer}, outside the Nix store.";
      };
    };

  # The read-only options through which each end shows what lib/ computed from its options: the
  # plan (for inspection and tests) and the intent (for lib.pairChecks against the other end).
  planOptions =
    { end, otherEnd }:
    {
      plan = lib.mkOption {
        type = lib.types.raw;
        readOnly = true;
        description = "The ${end} plan of lib/ computed from these options (docs/design.md), for inspection and tests.";
      };
      intent = lib.mkOption {
        type = lib.types.raw;
        readOnly = true;
        description = "These options as the intent lib/ takes (for lib.pairChecks against ${otherEnd}).";
      };
    };

}
