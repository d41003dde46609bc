# Helpers shared by the NixOS modules of this flake (not a module itself).
{ lib }:
{
  # The programs the plans' commands name (lib/confine.nix, the gateway's proxy entries), as
  # store paths for lib.renderCommand / lib.renderUnit.
  programsOf = pkgs: {
    ip = lib.getExe' pkgs.iproute2 "ip";
    nsenter = lib.getExe' pkgs.util-linux "nsenter";
    sysctl = lib.getExe' pkgs.procps "sysctl";
    nft = lib.getExe' pkgs.nftables "nft";
    sh = lib.getExe' pkgs.bash "sh";
  };

  # The files (other than `ownFile`) that define attribute `name` of the attrsOf option `option`,
  # e.g. another module that also defines networking.wireguard.interfaces.wg0. Their values
  # would be merged into ours silently (lists concatenated), so the modules assert there are none.
  otherDefinitionFiles =
    option: ownFile: name:
    map (definition: definition.file) (
      lib.filter (
        definition:
        definition.file != ownFile && builtins.isAttrs definition.value && definition.value ? ${name}
      ) option.definitionsWithLocations
    );

  # One command of a plan (an argument list with a bare program name) as a shell line, the program
  # by its store path: service scripts and hooks have no `sh` on PATH.
  shellLine =
    programs: command: lib.escapeShellArgs ([ programs.${builtins.head command} ] ++ builtins.tail command);

  # How NixOS names the units the modules confine, for the nixpkgs release in use. Both renames
  # happened in the 25.11 cycle: dovecot2.service became dovecot.service (nixpkgs PR #422829;
  # 26.05 asserts that systemd.services.dovecot2 is NOT set), and lego moved from acme-<cert> to
  # acme-order-renew-<cert> (nixpkgs PR #422076; acme-<cert> now only makes a placeholder).
  unitNames =
    release:
    let
      renamed = lib.versionAtLeast release "25.11";
    in
    {
      dovecot = if renamed then "dovecot" else "dovecot2";
      acmeOrder = certificate: if renamed then "acme-order-renew-${certificate}" else "acme-${certificate}";
    };

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

  # networking.wireguard.interfaces.<if> from a plan's `wireguard` (both ends; each adds its
  # hooks: home its preSetup, the gateway its postSetup).
  wireguardInterface = wireguard: {
    inherit (wireguard)
      ips
      listenPort
      mtu
      privateKeyFile
      interfaceNamespace
      socketNamespace
      allowedIPsAsRoutes
      table
      peers
      ;
  };

  # "<option path>: <problem>" with the option path first, like every check of lib/.
  assertionAbout = path: assertion: message: {
    inherit assertion;
    message = "${path}: ${message}";
  };
}
