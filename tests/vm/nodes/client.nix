# A mail client on the internet: it submits to home and reads over IMAPS, trusting the test CA.
{ world, ... }:
let
  attached = world.attached "client";
in
{
  virtualisation.interfaces.eth1 = attached.virtualInterface;
  networking.hostName = attached.hostName;
  networking.domain = attached.domain;
  networking.interfaces.eth1 = attached.interface;
  networking.defaultGateway = attached.defaultGateway;
  networking.defaultGateway6 = attached.defaultGateway6;
  networking.nameservers = world.nameservers;
}
