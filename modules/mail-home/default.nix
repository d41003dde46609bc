# The home side: homeMail.home.
#
# The WireGuard interface is created in the host's namespace, so its UDP socket uses the ISP line,
# and moved into namespace `homeMail.home.namespace`, where it holds the forwarded public
# addresses and the only default routes. The mail services that are enabled (postfix, dovecot,
# knot-resolver, the ACME orders of homeMail.home.acmeCertificates) run inside that namespace;
# rspamd and redis stay in the host's namespace and talk to them over unix sockets, which work
# across namespaces. Works with simple-nixos-mailserver (`mailserver.*`) and with plain
# services.postfix / services.dovecot2 (hosts/home-plain).
#
# Everything network-related comes from the home plan of lib/ (docs/design.md).
arguments@{ lib, ... }:
let
  inherit (lib)
    mkEnableOption
    mkOption
    optional
    types
    ;
  inherit (import ./context.nix arguments) homeMailLib unitNames mailserver;
  helpers = import ../helpers/options.nix { inherit lib; };
  # The option defaults are lib/'s intent defaults (lib/intent.nix), written there once.
  defaults = homeMailLib.homeDefaults;

  portList =
    default: description: example:
    mkOption {
      type = types.listOf types.port;
      inherit default example description;
    };
in
{
  _file = toString ./default.nix;

  imports = [
    ../netns.nix
    ../doctor.nix
    ./confinement.nix
    ./dovecot.nix
    ./postfix.nix
    ./rspamd.nix
    ./resolver.nix
    ./acme.nix
  ];

  options.homeMail.home = {
    enable = mkEnableOption "the home end: mail services confined to a namespace that holds public addresses forwarded by a gateway over WireGuard";

    namespace = mkOption {
      type = types.str;
      default = defaults.namespace;
      example = "mail";
      description = ''
        The network namespace the mail services run in (`/run/netns/<name>`, created by
        `netns@<name>.service`). It holds the WireGuard interface, the forwarded addresses and
        the only default routes.
      '';
    };

    addresses = mkOption {
      type = types.listOf types.str;
      default = defaults.addresses;
      example = [
        "198.51.100.11/32"
        "2001:db8:1::11/128"
      ];
      description = ''
        The public addresses the gateway forwards to this home, as single addresses (`/32`,
        `/128`). They are put on the WireGuard interface inside the namespace and must equal
        `homeMail.gateway.homes.<this home>.addresses` on the gateway.
      '';
    };

    wireguard = helpers.wireguardOptions {
      defaults = defaults.wireguard;
      keyOwner = "this home's";
      interface = {
        example = "wg-mail";
        description = "Name of the WireGuard interface (created in the host's namespace, then moved into the mail namespace).";
      };
      listenPort = mkOption {
        type = types.nullOr types.port;
        default = defaults.wireguard.listenPort;
        example = 51820;
        description = "UDP port of the tunnel at home; null lets the kernel choose (home connects out, the gateway learns the port).";
      };
    };

    gateway = {
      endpoint = mkOption {
        type = types.nullOr types.str;
        default = defaults.gateway.endpoint;
        example = "198.51.100.10:51820";
        description = ''
          The gateway's public address and WireGuard port: an IP literal (`[2001:db8:1::10]:51820`
          for IPv6), not a host name, because the peer is configured inside the namespace, which
          has no DNS until this very tunnel is up. Required.
        '';
      };
      inherit
        (helpers.peerKeyOptions {
          defaults = defaults.gateway;
          peer = "the gateway";
          where = "on the gateway";
          examples = {
            publicKey = "tggv2towuHBkiI9bo92jAObTbOyhHE7oyKHaJdqlhyQ=";
            presharedKeyFile = "/etc/wireguard/wg0.psk";
          };
        })
        publicKey
        presharedKeyFile
        ;
      persistentKeepalive = mkOption {
        type = types.nullOr types.int;
        default = defaults.gateway.persistentKeepalive;
        example = null;
        description = "Seconds between keepalives, so the home's NAT and firewall keep the tunnel open; null turns them off.";
      };
    };

    nameservers = mkOption {
      type = types.listOf types.str;
      default = defaults.nameservers;
      example = [ "192.0.2.53" ];
      description = ''
        The resolvers of the confined services (the namespace's resolv.conf). The default is the
        knot-resolver of simple-nixos-mailserver's `mailserver.localDnsResolver`, which runs in
        the namespace; another resolver must be reachable through the tunnel.
      '';
    };

    openPorts = {
      tcp = portList defaults.openPorts.tcp "TCP ports the internet may open inside the namespace (the namespace's own firewall drops the rest); port 80 is added when acmeCertificates is not empty." [
        25
        465
        993
      ];
      udp = portList defaults.openPorts.udp "UDP ports the internet may open inside the namespace." [ ];
    };

    extraConfinedServices = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "opendkim" ];
      description = ''
        More `systemd.services` attribute names to run inside the namespace, besides those
        confined automatically: `postfix` (services.postfix.enable), `${unitNames.dovecot}`
        (services.dovecot2.enable), `kresd@1` ... `kresd@<services.kresd.instances>`
        (services.kresd.enable), `knot-resolver`
        (services.knot-resolver.enable) and the ACME orders of `acmeCertificates`.
      '';
    };

    acmeCertificates = mkOption {
      type = types.listOf types.str;
      default = optional (mailserver.enable && (mailserver.x509.useACMEHost or null) != null) mailserver.x509.useACMEHost;
      defaultText = lib.literalMD "`[ config.mailserver.x509.useACMEHost ]` when simple-nixos-mailserver uses an ACME certificate, else `[ ]`";
      example = [ "mail.example.org" ];
      description = ''
        Names of `security.acme.certs` whose orders run inside the namespace, so the CA's HTTP-01
        request reaches them on the public addresses (`listenHTTP = ":80"` by default, port 80
        opened in the namespace).
      '';
    };

    rspamdRedisOverUnixSocket = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = ''
        When rspamd is enabled: its redis listens on a unix socket only, and rspamd joins the
        redis group. Weaker than `mkDefault`, so a mail server's own redis settings win.
      '';
    };

    dropDuplicateDeliveries = mkOption {
      type = types.bool;
      default = defaults.dropDuplicateDeliveries;
      example = false;
      description = ''
        When dovecot delivers: drop a message whose Message-ID the mailbox has already received
        (a retried delivery), before any user script runs, and have postfix deliver one message
        at a time. A second copy with the same Message-ID (e.g. via a mailing list) is dropped
        too. How it is set up for Dovecot 2.3 and 2.4: docs/design.md, "Exactly-once delivery".
      '';
    };

    confinedServices = mkOption {
      type = types.listOf types.str;
      readOnly = true;
      description = "The systemd.services attribute names that run inside the namespace (computed).";
    };

    inherit
      (helpers.planOptions {
        end = "home";
        otherEnd = "the gateway's";
      })
      plan
      intent
      ;
  };
}
