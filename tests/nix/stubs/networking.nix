# nixos/modules/tasks/network-interfaces.nix, services/networking/firewall*.nix, nftables.nix,
# config/resolvconf.nix (the options the modules set or read).
{ lib, ... }:
let
  inherit (import ./options.nix { inherit lib; }) mkOption types option nullOr listOf attrsOf bool;

  # An IPv4 prefix is at most 32 bits long, an IPv6 one 128.
  addressOptions = bits: {
    options = {
      address = mkOption { type = types.str; };
      prefixLength = mkOption { type = types.addCheck types.int (n: n >= 0 && n <= bits); };
    };
  };
  interfaceOptions = {
    options = {
      useDHCP = nullOr types.bool;
      ipv4.addresses = listOf (types.submodule (addressOptions 32));
      ipv6.addresses = listOf (types.submodule (addressOptions 128));
    };
  };
  tableOptions =
    { name, ... }:
    {
      options = {
        enable = bool true;
        name = option types.str name;
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
    useNetworkd = bool false;
    interfaces = attrsOf (types.submodule interfaceOptions);
    nameservers = listOf types.str;
    resolvconf.useLocalResolver = bool false;
    firewall = {
      enable = bool true;
      allowedTCPPorts = listOf types.port;
      allowedUDPPorts = listOf types.port;
    };
    nftables = {
      enable = bool false;
      tables = attrsOf (types.submodule tableOptions);
    };
  };
}
