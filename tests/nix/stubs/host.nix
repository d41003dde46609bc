# The rest of a NixOS host as far as hosts/*/default.nix and the VM test nodes of tests/vm set it
# (nixos/modules/{tasks/network-interfaces,config/system-path,system/boot/*,virtualisation/
# qemu-vm,security/ca}.nix ...). Not part of ./default.nix: only whole hosts need it.
{ lib, ... }:
let
  inherit (import ./options.nix { inherit lib; }) mkOption types option nullOr listOf attrsOf bool;
  gatewayOptions = {
    options = {
      address = mkOption { type = types.str; };
      interface = nullOr types.str;
    };
  };
in
{
  options = {
    nixpkgs.hostPlatform = option types.str "x86_64-linux";
    networking = {
      hostName = option types.str "nixos";
      domain = nullOr types.str;
      useDHCP = bool true;
      defaultGateway = nullOr (types.submodule gatewayOptions);
      defaultGateway6 = nullOr (types.submodule gatewayOptions);
    };
    services.openssh.enable = bool false;
    services.rspamd.postfix.enable = bool false;
    users = {
      users = attrsOf (types.attrsOf types.anything);
      groups = attrsOf (types.attrsOf types.anything);
    };
    boot.loader.grub.device = option types.str "";
    fileSystems = attrsOf (
      types.submodule {
        options = {
          device = nullOr types.str;
          fsType = option types.str "auto";
        };
      }
    );
    security.pki.certificateFiles = listOf types.path;
    systemd.tmpfiles.rules = listOf types.str;
    virtualisation = {
      memorySize = option types.ints.positive 1024;
      interfaces = attrsOf (
        types.submodule {
          options = {
            vlan = nullOr types.ints.unsigned;
            assignIP = bool false;
          };
        }
      );
    };
  };
}
