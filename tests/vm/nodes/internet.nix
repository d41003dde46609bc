# The internet: the router between the three links (gateway's, home's ISP line, the edge where
# remote and client live), the ISP's port-25 block on home's line, the authoritative name server
# (knot.service) and the ACME server (pebble.service). As the lab's `internet` machine.
{
  lib,
  pkgs,
  world,
  ...
}:
let
  inherit (world.world.internet) links dns;
  edgePrefix = network: lib.last (lib.splitString "/" network);
  router = link: [
    links.${link}.router.ipv4
    links.${link}.router.ipv6
  ];

  # The ISP drops the blocked TCP ports to and from the line, in both directions.
  blockRules = lib.concatStrings (
    lib.mapAttrsToList (
      _: link:
      lib.concatMapStrings (port: ''
        ip saddr ${link.ipv4} tcp dport ${toString port} counter drop
        ip daddr ${link.ipv4} tcp dport ${toString port} counter drop
        ip6 saddr ${link.ipv6} tcp dport ${toString port} counter drop
        ip6 daddr ${link.ipv6} tcp dport ${toString port} counter drop
      '') (link.blockedTcpPorts or [ ])
    ) links
  );

  zoneDirectory = pkgs.linkFarm "test-world-zones" (
    lib.mapAttrsToList (zone: text: {
      name = "${zone}.zone";
      path = pkgs.writeText "${zone}.zone" text;
    }) world.zones
  );
  knotConfig = pkgs.writeText "knot.conf" ''
    server:
        rundir: "/run/knot"
        listen: [ "${dns.ipv4}@53", "${dns.ipv6}@53" ]
    log:
      - target: "stderr"
        any: "info"
    database:
        storage: "/var/lib/knot"
    template:
      - id: "default"
        storage: "${zoneDirectory}"
        file: "%s.zone"
        zonefile-load: "whole"
        zonefile-sync: -1
        journal-content: "none"
        semantic-checks: "on"
    zone:
    ${lib.concatMapStrings (zone: "  - domain: \"${zone}\"\n") (lib.attrNames world.zones)}'';

  pebbleConfig = pkgs.writeText "pebble.json" (
    builtins.toJSON {
      pebble = {
        listenAddress = "${world.acme.ipv4}:${toString world.acme.port}";
        managementListenAddress = "${world.acme.ipv4}:${toString world.acme.managementPort}";
        certificate = world.secrets.acme.certificate;
        privateKey = world.secrets.acme.key;
        httpPort = 80;
        tlsPort = 443;
        ocspResponderURL = "";
        externalAccountBindingRequired = false;
      };
    }
  );
in
{
  virtualisation.interfaces = {
    eth1 = world.onLink "gateway";
    eth2 = world.onLink "home";
    eth3 = world.onLink "edge";
  };
  networking.interfaces = {
    eth1 = world.staticInterface (router "gateway");
    eth2 = world.staticInterface (router "home");
    # The edge link also carries the name server's and the ACME server's addresses.
    eth3 = world.staticInterface (
      router "edge"
      ++ [
        "${dns.ipv4}/${edgePrefix links.edge.ipv4}"
        "${dns.ipv6}/${edgePrefix links.edge.ipv6}"
        "${world.acme.ipv4}/${edgePrefix links.edge.ipv4}"
      ]
    );
  };
  networking.nameservers = world.nameservers;

  boot.kernel.sysctl = {
    "net.ipv4.conf.all.forwarding" = 1;
    "net.ipv6.conf.all.forwarding" = 1;
  };
  # A router of the internet filters nothing but what the ISP blocks.
  networking.firewall.enable = false;
  networking.nftables = {
    enable = true;
    tables.isp = {
      family = "inet";
      content = ''
        chain isp_forward {
          type filter hook forward priority 0; policy accept;
        ${blockRules}}
      '';
    };
  };

  systemd.services.knot = {
    description = "Authoritative name server of the test world";
    wantedBy = [ "multi-user.target" ];
    after = [ "network.target" ];
    serviceConfig = {
      ExecStartPre = "${pkgs.knot-dns}/bin/knotc --config ${knotConfig} conf-check";
      ExecStart = "${pkgs.knot-dns}/bin/knotd --config ${knotConfig}";
      RuntimeDirectory = "knot";
      StateDirectory = "knot";
      # The listen addresses may still be tentative (IPv6 duplicate address detection).
      Restart = "on-failure";
      RestartSec = 1;
    };
  };

  systemd.services.pebble = {
    description = "ACME server of the test world";
    wantedBy = [ "multi-user.target" ];
    after = [
      "network.target"
      "knot.service"
    ];
    wants = [ "knot.service" ];
    environment = {
      # No random 0-15 s sleep before each validation; validate every order.
      PEBBLE_VA_NOSLEEP = "1";
      PEBBLE_AUTHZREUSE = "0";
    };
    serviceConfig = {
      ExecStart = "${pkgs.pebble}/bin/pebble -config ${pebbleConfig} -dnsserver ${dns.ipv4}:53";
      Restart = "on-failure";
      RestartSec = 1;
    };
  };

  environment.systemPackages = [ pkgs.knot-dns ];
}
