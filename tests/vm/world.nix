# The test world of tests/topology.nix as NixOS VM material: VLANs, static addresses, the DNS
# zones of the internet's name server, the ACME server, the snakeoil secrets, and the prelude of
# every test script. The lab (pkgs/mail-lab) builds the same world from the same file.
{ lib }:
let

  # In a NixOS test VM, eth0 is QEMU's user-mode network and the VLANs are eth1, eth2, ...: the
  # gateway's uplink is eth1. Nothing else differs from the lab's world.
  topology = import ../topology.nix { overrides.gateway.uplink.interface = "eth1"; };
  inherit (topology) world;
  inherit (world.internet) links;
  machines = world.machines;

  # The ACME server of the internet (pebble), as the lab runs it.
  inherit (world.internet) acme;

  # virtualisation.interfaces.<name> on a link: addresses are the test world's, set by hand,
  # not the test driver's 192.168.<vlan>.<n>.
  onLink = link: {
    vlan = vlans.${link};
    assignIP = false;
  };

  # One VLAN per link of the internet.
  vlans = {
    gateway = 1;
    home = 2;
    edge = 3;
  };

  bare = cidr: builtins.head (lib.splitString "/" cidr);
  prefixLengthOf = cidr: lib.toInt (lib.last (lib.splitString "/" cidr));
  isIPv6 = address: lib.hasInfix ":" address;

  # networking.interfaces.<name> for a list of "address/prefix" strings.
  staticInterface =
    cidrs:
    let
      entry = cidr: {
        address = bare cidr;
        prefixLength = prefixLengthOf cidr;
      };
    in
    {
      ipv4.addresses = map entry (lib.filter (cidr: !isIPv6 cidr) cidrs);
      ipv6.addresses = map entry (lib.filter isIPv6 cidrs);
    };

  # The router's addresses on a link, without their prefix lengths.
  linkRouter = link: builtins.mapAttrs (_: bare) links.${link}.router;

  # The networking of a machine attached to one link (gateway, home, remote, client). Its host
  # name and domain are those NixOS turns into the machine's `hosts` (the FQDN, then the host name,
  # on 127.0.0.2), which the lab writes into /etc/hosts.
  attached =
    name:
    let
      machine = machines.${name};
      router = linkRouter machine.link;
      names = machine.hosts."127.0.0.2";
      hostName = lib.last names;
    in
    {
      inherit hostName;
      domain = if builtins.length names > 1 then lib.removePrefix "${hostName}." (builtins.head names) else null;
      virtualInterface = onLink machine.link;
      interface = staticInterface [
        machine.ipv4
        machine.ipv6
      ];
      defaultGateway = {
        address = router.ipv4;
        interface = "eth1";
      };
      defaultGateway6 = {
        address = router.ipv6;
        interface = "eth1";
      };
    };

  nameservers = [
    world.internet.dns.ipv4
    world.internet.dns.ipv6
  ];

  secrets = {
    caCertificate = ./secrets/ca.pem;
    home = {
      certificate = ./secrets/mail.example.org.pem;
      key = ./secrets/mail.example.org.key;
    };
    acme = {
      certificate = ./secrets/acme.example.net.pem;
      key = ./secrets/acme.example.net.key;
    };
    dkimSelector = world.dkim.selector;
    dkimKey = domain: ./secrets + "/${domain}.mail.key";
    # A module putting the domain's test DKIM key into `directory`, where a mail server's rspamd
    # signs with it (so that the zone's record matches), and naming it to the doctor.
    dkimKeyIn =
      directory: domain:
      let
        keyFile = "${directory}/${domain}.${secrets.dkimSelector}.key";
      in
      {
        systemd.tmpfiles.rules = [
          "d ${directory} 0750 rspamd rspamd - -"
          "C ${keyFile} - - - - ${secrets.dkimKey domain}"
          "z ${keyFile} 0600 rspamd rspamd - -"
        ];
        homeMail.doctor.dkim = {
          inherit keyFile;
          selector = secrets.dkimSelector;
        };
      };
    dkimPublicKey = domain: lib.removeSuffix "\n" (builtins.readFile (./secrets + "/${domain}.mail.txt"));
  };

  zones = import ./zones.nix { inherit lib topology secrets; };

  # The start of every test script: the test world as the scenarios know it. A JSON text is also
  # a valid Python string literal here (Nix's JSON escapes are a subset of Python's).
  prelude = ''
    import json

    topology = json.loads(${builtins.toJSON (builtins.toJSON topology)})

  '';
in
{
  inherit
    topology
    world
    machines
    acme
    vlans
    onLink
    staticInterface
    linkRouter
    attached
    nameservers
    secrets
    zones
    prelude
    ;
}
