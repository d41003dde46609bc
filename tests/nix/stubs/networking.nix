# nixos/modules/tasks/network-interfaces.nix, services/networking/firewall*.nix, nftables.nix,
# config/resolvconf.nix (the options the modules set or read).
{ lib, ... }:
let
  inherit (lib) mkOption types;

  # An IPv4 prefix is at most 32 bits long, an IPv6 one 128.
  addressOptions = bits: {
    options = {
      address = mkOption { type = types.str; };
      prefixLength = mkOption { type = types.addCheck types.int (n: n >= 0 && n <= bits); };
    };
  };
  interfaceOptions = {
    options = {
      useDHCP = mkOption {
        type = types.nullOr types.bool;
        default = null;
      };
      ipv4.addresses = mkOption {
        type = types.listOf (types.submodule (addressOptions 32));
        default = [ ];
      };
      ipv6.addresses = mkOption {
        type = types.listOf (types.submodule (addressOptions 128));
        default = [ ];
      };
    };
  };
  tableOptions =
    { name, ... }:
    {
      options = {
        enable = mkOption {
          type = types.bool;
          default = true;
        };
        name = mkOption {
          type = types.str;
          default = name;
        };
        family = mkOption {
          type = types.enum [
            "ip"
            "ip6"
            "inet"
            "arp"
            "bridge"
            "netdev"
          ];
        };
        # No default: nixpkgs requires the table's content.
        content = mkOption { type = types.lines; };
      };
    };
in
{
  options.networking = {
    useNetworkd = mkOption {
      type = types.bool;
      default = false;
    };
    interfaces = mkOption {
      type = types.attrsOf (types.submodule interfaceOptions);
      default = { };
    };
    nameservers = mkOption {
      type = types.listOf types.str;
      default = [ ];
    };
    resolvconf.useLocalResolver = mkOption {
      type = types.bool;
      default = false;
    };
    firewall = {
      enable = mkOption {
        type = types.bool;
        default = true;
      };
      allowedTCPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
      allowedUDPPorts = mkOption {
        type = types.listOf types.port;
        default = [ ];
      };
    };
    nftables = {
      enable = mkOption {
        type = types.bool;
        default = false;
      };
      tables = mkOption {
        type = types.attrsOf (types.submodule tableOptions);
        default = { };
      };
    };
  };
}
