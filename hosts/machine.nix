# What both example machines (hosts/gateway, hosts/home-machine.nix) are besides their role: a
# NixOS machine reached over SSH, its root file system on the disk labelled `nixos`: replace with
# yours (nixos-generate-config), together with each host's boot loader.
{ ... }:
{
  services.openssh.enable = true;

  fileSystems."/" = {
    device = "/dev/disk/by-label/nixos";
    fsType = "ext4";
  };

  system.stateVersion = "26.05";
}
