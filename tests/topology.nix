# The virtual internet the scenarios run on, shared by the lab (pkgs/mail-lab) and the NixOS VM
# tests (tests/vm). Only documentation addresses (RFC 5737, RFC 3849) and example domains.
#
# `overrides` is merged recursively into the intents, e.g.
#   nix-instantiate --eval --strict --json tests/topology.nix \
#     --arg overrides '{ home.addresses = [ "198.51.100.12/32" "2001:db8:1::12/128" ]; }'
# (a forwarded address given for `home` is applied to the gateway's peer as well); `overrides.world`
# is merged into the test world, e.g. `{ world.remoteDomains."example.edu" = { ... }; }`.
{
  overrides ? { },
}:
let
  homeMailLib = import ../lib;
  inherit (import ../lib/self.nix) intent util;

  # Test-only WireGuard keys (snakeoil): generated for this repository, never use them elsewhere.
  keys = {
    gateway = {
      private = "CMHB2if/eaA99LLUwD27nU9F+N33gWTH/a1zr8ovnEM=";
      public = "tggv2towuHBkiI9bo92jAObTbOyhHE7oyKHaJdqlhyQ=";
    };
    home = {
      private = "4E1IBzWMx6x1lhGusP7WpgzxCTTTJG2/WpzUH2OmG3I=";
      public = "pL6sgVmg/yaxBGFUB+AKsgr5LNHMGD9IfCIhiS9FRxg=";
    };
    # A peer the gateway does not know: used to prove a wrong key gets nothing through.
    intruder = {
      private = "KO2Jq8Pufr7ALLpamNACReQ9Ftc8wTr2l0wUcfQCxXI=";
      public = "QmCf7x1KICML83RoIwQsebnJN5X8FtNNXtAnAsbQq0c=";
    };
  };

  # The intents: lib/'s defaults (the namespace `wg`, the interface wg0, ...) and what differs.
  # dropDuplicateDeliveries is left to the plan's default.
  homeIntent = util.recursiveUpdate (builtins.removeAttrs intent.homeDefaults [ "dropDuplicateDeliveries" ]) (
    util.recursiveUpdate {
      addresses = [
        "198.51.100.11/32"
        "2001:db8:1::11/128"
      ];
      wireguard.privateKeyFile = "/etc/wireguard/wg0.key";
      gateway = {
        endpoint = "198.51.100.10:51820";
        publicKey = keys.gateway.public;
      };
      openPorts.tcp = [
        25
        80
        465
        993
      ];
      services = [
        "postfix"
        "dovecot"
        "kresd@1"
        "acme-order-renew-mail.example.org"
      ];
    } (overrides.home or { })
  );

  gatewayIntent = intent.withGatewayDefaults (
    util.recursiveUpdate {
      uplink = {
        inherit (world.machines.gateway) interface;
        addresses = [
          world.machines.gateway.ipv4
          world.machines.gateway.ipv6
        ];
      };
      wireguard.privateKeyFile = "/etc/wireguard/wg0.key";
      homes.home = {
        publicKey = keys.home.public;
        inherit (homeIntent) addresses;
      };
      forwardedPorts = homeIntent.openPorts;
    } (overrides.gateway or { })
  );

  # Host number `host` in both of `link`'s prefixes, with their prefix lengths.
  onLink =
    link: host:
    let
      v4 = builtins.match "(.*)\\.0/([0-9]+)" link.ipv4;
      v6 = builtins.match "(.*)::/([0-9]+)" link.ipv6;
    in
    {
      ipv4 = "${builtins.elemAt v4 0}.${toString host}/${builtins.elemAt v4 1}";
      ipv6 = "${builtins.elemAt v6 0}::${toString host}/${builtins.elemAt v6 1}";
    };

  # A machine on link `link`, host number `host`, on its eth0.
  attached =
    link: host:
    {
      inherit link;
      interface = "eth0";
    }
    // onLink world.internet.links.${link} host;

  hostsOf = name: machine: {
    "127.0.0.2" =
      if machine ? fqdn then
        [
          machine.fqdn
          machine.hostName
        ]
      else
        [ name ];
  };

  # Everything that is not part of a role's plan: the rest of the virtual internet.
  world = util.recursiveUpdate baseWorld (overrides.world or { });
  baseWorld = {
    domains = {
      home = "example.org";
      remote = "example.net";
    };
    internet = {
      # The authoritative name server of every zone (tests/dns.nix).
      dns = {
        name = "ns.example.net";
        ipv4 = "192.0.2.53";
        ipv6 = "2001:db8:3::53";
      };
      # The internet's ACME server (pebble), for the acme scenario.
      acme = {
        name = "acme.example.net";
        ipv4 = "192.0.2.54";
        port = 14000;
        managementPort = 15000;
      };
      # One link per attached machine; the router holds .1 / ::1 on each (`router`).
      links = builtins.mapAttrs (_: link: link // { router = onLink link 1; }) {
        gateway = {
          ipv4 = "198.51.100.0/24";
          ipv6 = "2001:db8:1::/64";
        };
        home = {
          ipv4 = "203.0.113.0/24";
          ipv6 = "2001:db8:2::/64";
          # The home ISP blocks TCP port 25 in both directions on this line.
          blockedTcpPorts = [ 25 ];
        };
        edge = {
          ipv4 = "192.0.2.0/24";
          ipv6 = "2001:db8:3::/64";
        };
      };
    };
    # Each machine's `hosts`: its /etc/hosts entries beyond localhost, what NixOS's
    # networking.hosts holds for its host name and domain (the FQDN first, on 127.0.0.2).
    machines = builtins.mapAttrs (name: machine: machine // { hosts = hostsOf name machine; }) {
      gateway = attached "gateway" 10;
      home = attached "home" 20 // {
        hostName = "mail";
        fqdn = "mail.example.org";
      };
      remote = attached "edge" 10 // {
        hostName = "mx";
        fqdn = "mx.example.net";
        # Where the remote's postfix delivers mail for its accounts (a Maildir).
        maildir = "/var/mail/bob/";
      };
      client = attached "edge" 20;
    };
    accounts = {
      home = "alice@example.org";
      remote = "bob@example.net";
    };
    # Test-only passwords (the lab and the VM tests hash them; never reuse them).
    passwords = {
      "alice@example.org" = "alice-scenario-password";
      "bob@example.net" = "bob-scenario-password";
    };
    # More recipient domains of the remote, any number: each is a zone of its own on the
    # internet's name server, whose MX host has the remote's addresses of `families` only
    # ("ipv4", "ipv6" or both), so a scenario can make home deliver over one family (or let it
    # choose) without reconfiguring home. Their records are in `dns` (tests/dns.nix); the
    # remote's postfix accepts mail for each (the lab's services/postfix.py, tests/vm/nodes/remote.nix).
    remoteDomains = {
      "v4.example.net" = {
        mx = "mx.v4.example.net";
        families = [ "ipv4" ];
      };
      "v6.example.net" = {
        mx = "mx.v6.example.net";
        families = [ "ipv6" ];
      };
      "example.com" = {
        mx = "mx.example.com";
        families = [
          "ipv4"
          "ipv6"
        ];
      };
    };
    inherit keys;
    # The DNSBL zone in the lab's DNS (a test zone of the remote's name server).
    dnsbl = "dnsbl.example.net";
    # Where home's DKIM signing key lives (rspamd) and its selector.
    dkim = {
      selector = "mail";
      keyFile = "/var/lib/rspamd/dkim/example.org.mail.key";
    };
  };
  plans = {
    gateway = homeMailLib.gatewayPlanStrict gatewayIntent;
    home = homeMailLib.homePlanStrict homeIntent;
  };

  # The internet's DNS zones: their records, written out by the lab and the VM tests.
  dns = import ./dns.nix {
    inherit world;
    homePlan = plans.home;
  };

  # What the doctor reads in each machine (/etc/home-mail/plan.json); the lab's DNS is the only
  # DNSBL it asks.
  doctorOf =
    role: extra:
    homeMailLib.doctorPlan (
      {
        plan = plans.${role};
        mailName = world.machines.home.fqdn;
        domains = [ world.domains.home ];
        dnsbl = [ world.dnsbl ];
      }
      // extra
    );
in
{
  inherit
    world
    gatewayIntent
    homeIntent
    plans
    dns
    ;
  doctor = {
    gateway = doctorOf "gateway" { };
    home = doctorOf "home" { dkim = world.dkim; };
  };
}
