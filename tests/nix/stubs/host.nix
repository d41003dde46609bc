# The rest of a NixOS host as far as hosts/*/default.nix and the VM test nodes of tests/vm set it
# (nixos/modules/{tasks/network-interfaces,config/system-path,system/boot/*,virtualisation/
# qemu-vm,security/ca}.nix ...). Not part of ./default.nix: only whole hosts need it.
{ lib, ... }:
let
  inherit (lib) mkOption types;
  optional =
    type: default:
    mkOption {
      inherit type default;
    };
  gatewayOptions = {
    options = {
      address = mkOption { type = types.str; };
      interface = optional (types.nullOr types.str) null;
    };
  };
in
{
  options = {
    nixpkgs.hostPlatform = optional types.str "x86_64-linux";
    networking = {
      hostName = optional types.str "nixos";
      domain = optional (types.nullOr types.str) null;
      useDHCP = optional types.bool true;
      defaultGateway = optional (types.nullOr (types.submodule gatewayOptions)) null;
      defaultGateway6 = optional (types.nullOr (types.submodule gatewayOptions)) null;
    };
    services.openssh.enable = optional types.bool false;
    services.rspamd.postfix.enable = optional types.bool false;
    users = {
      users = optional (types.attrsOf (types.attrsOf types.anything)) { };
      groups = optional (types.attrsOf (types.attrsOf types.anything)) { };
    };
    boot.loader.grub.device = optional types.str "";
    fileSystems = optional (types.attrsOf (
      types.submodule {
        options = {
          device = optional (types.nullOr types.str) null;
          fsType = optional types.str "auto";
        };
      }
    )) { };
    security.pki.certificateFiles = optional (types.listOf types.path) [ ];
    systemd.tmpfiles.rules = optional (types.listOf types.str) [ ];
    virtualisation = {
      memorySize = optional types.ints.positive 1024;
      interfaces = optional (types.attrsOf (
        types.submodule {
          options = {
            vlan = optional (types.nullOr types.ints.unsigned) null;
            assignIP = optional types.bool false;
          };
        }
      )) { };
    };
  };
}
