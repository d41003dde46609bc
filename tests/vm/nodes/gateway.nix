# The gateway: hosts/gateway with the test world's interface (eth1) and key.
{
  lib,
  world,
  homeMailModules,
  ...
}:
let
  attached = world.attached "gateway";
in
{
  imports = [
    homeMailModules.wireguard-gateway
    ../../../hosts/gateway
  ];

  virtualisation.interfaces.eth1 = attached.virtualInterface;
  networking.hostName = attached.hostName;
  networking.domain = attached.domain;
  networking.interfaces = lib.mkForce { eth1 = attached.interface; };
  networking.defaultGateway = lib.mkForce attached.defaultGateway;
  networking.defaultGateway6 = lib.mkForce attached.defaultGateway6;
  networking.nameservers = lib.mkForce world.nameservers;

  # Exactly the test world's intent, which the lab realizes too.
  homeMail.gateway = lib.mkForce (world.topology.gatewayIntent // { enable = true; });

  # The doctor's view of the test world: its mail name and domain, and the test DNSBL zone, never
  # a public list. Forced: the example host sets its own.
  homeMail.doctor = lib.mapAttrs (_: lib.mkForce) {
    inherit (world.topology.doctor.gateway) mailName domains dnsbl;
  };

  # Test-only key (tests/topology.nix): a root-only copy, not a symlink into the store.
  environment.etc."wireguard/wg0.key" = {
    text = world.world.keys.gateway.private;
    mode = "0400";
  };
}
