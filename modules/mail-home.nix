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
{
  config,
  lib,
  options,
  pkgs,
  ...
}:
let
  inherit (lib)
    filter
    genAttrs
    mkDefault
    mkEnableOption
    mkForce
    mkIf
    mkMerge
    mkOption
    mkOverride
    optional
    optionals
    types
    unique
    ;
  homeMailLib = import ../lib;
  helpers = import ./helpers.nix { inherit lib; };
  ownFile = toString ./mail-home.nix;

  cfg = config.homeMail.home;
  root = "homeMail.home";
  unitNames = helpers.unitNames lib.trivial.release;
  redis = config.services.redis.servers.rspamd;
  mailserver = if options ? mailserver then config.mailserver else { enable = false; };
  dovecot = config.services.dovecot2;
  # nixpkgs' dovecot module takes Dovecot 2.4's settings (its default package from stateVersion
  # 26.05 on) and then asserts that the 2.3-era options sieve.scripts and mailPlugins are unset.
  dovecot24 = options.services.dovecot2 ? package && !lib.versionOlder dovecot.package.version "2.4";
  # knot-resolver 5 is services.kresd (kresd@<n>.service); knot-resolver 6 is
  # services.knot-resolver (knot-resolver.service). Both point the host's resolv.conf at 127.0.0.1.
  knotResolver6 = options.services ? knot-resolver && config.services.knot-resolver.enable;
  resolverUnits = optional config.services.kresd.enable "kresd@" ++ optional knotResolver6 "knot-resolver";

  confinedServices = unique (
    optional config.services.postfix.enable "postfix"
    ++ optional dovecot.enable unitNames.dovecot
    ++ resolverUnits
    ++ map unitNames.acmeOrder cfg.acmeCertificates
    ++ cfg.extraConfinedServices
  );

  intent = {
    inherit (cfg) namespace addresses nameservers;
    wireguard = {
      inherit (cfg.wireguard)
        interface
        mtu
        listenPort
        privateKeyFile
        ;
    };
    gateway = {
      inherit (cfg.gateway)
        endpoint
        publicKey
        presharedKeyFile
        persistentKeepalive
        ;
    };
    openPorts = {
      # HTTP-01 challenges of the ACME orders arrive on port 80 of the public addresses.
      tcp = unique (cfg.openPorts.tcp ++ optional (cfg.acmeCertificates != [ ]) 80);
      inherit (cfg.openPorts) udp;
    };
    services = confinedServices;
    inherit (cfg) dropDuplicateDeliveries;
  };
  plan = homeMailLib.homePlan intent;
  duplicateFilter = plan.delivery.duplicateFilter;
  duplicateFilterFile = builtins.toFile "drop-duplicates.sieve" duplicateFilter.script;
  duplicateFilterName = "home_mail_drop_duplicates";
  filterDuplicates = dovecot.enable && duplicateFilter != null;
  # Dovecot 2.3: nixpkgs chowns the compiled sieve.scripts to these and fails without them.
  sieveScriptOwnerSet =
    let
      settings = dovecot.settings or { };
    in
    (settings.mail_uid or null) != null && (settings.mail_gid or null) != null;
  weakDefault = mkOverride 1100;
  wireguardUnit = "wireguard-${cfg.wireguard.interface}";

  loopbackNameservers = filter (
    server:
    let
      parsed = homeMailLib.ip.parseAddress server;
    in
    parsed.valid && homeMailLib.ip.kind parsed == "loopback"
  ) cfg.nameservers;

  definedElsewhere = option: helpers.otherDefinitionFiles option ownFile;
  listFiles = files: lib.concatMapStringsSep ", " toString (unique files);

  moduleChecks =
    let
      interfaceFiles = definedElsewhere options.networking.wireguard.interfaces cfg.wireguard.interface;
      namespaceFiles = definedElsewhere options.homeMail.netns cfg.namespace;
    in
    [
      (helpers.assertionAbout "${root}.wireguard.interface" (interfaceFiles == [ ]) "networking.wireguard.interfaces.${cfg.wireguard.interface} is also defined in ${listFiles interfaceFiles}; ${root} manages this interface and the other settings would be merged into it (lists concatenated): choose another ${root}.wireguard.interface or remove the other definition")
      (helpers.assertionAbout "${root}.namespace" (namespaceFiles == [ ]) "homeMail.netns.${cfg.namespace} is also defined in ${listFiles namespaceFiles}; ${root} manages this namespace: choose another ${root}.namespace, and confine more services with ${root}.extraConfinedServices instead")
    ]
    ++ map (
      certificate:
      helpers.assertionAbout "${root}.acmeCertificates" (
        definedElsewhere options.security.acme.certs certificate != [ ]
      ) "\"${certificate}\" is not a certificate of security.acme.certs; define security.acme.certs.\"${certificate}\" or remove it here"
    ) cfg.acmeCertificates
    ++ optionals (unitNames.dovecot != "dovecot2") [
      (helpers.assertionAbout "${root}.extraConfinedServices" (
        !builtins.elem "dovecot2" cfg.extraConfinedServices
      ) "\"dovecot2\" is called dovecot.service since NixOS 25.11, and it is confined automatically when services.dovecot2.enable is set; remove \"dovecot2\"")
    ];

  portList =
    description: example:
    mkOption {
      type = types.listOf types.port;
      default = [ ];
      inherit example description;
    };
in
{
  _file = ownFile;

  imports = [
    ./netns.nix
    ./doctor.nix
  ];

  options.homeMail.home = {
    enable = mkEnableOption "the home end: mail services confined to a namespace that holds public addresses forwarded by a gateway over WireGuard";

    namespace = mkOption {
      type = types.str;
      default = "wg";
      example = "mail";
      description = ''
        The network namespace the mail services run in (`/run/netns/<name>`, created by
        `netns@<name>.service`). It holds the WireGuard interface, the forwarded addresses and
        the only default routes.
      '';
    };

    addresses = mkOption {
      type = types.listOf types.str;
      default = [ ];
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
      keyOwner = "this home's";
      interface = {
        example = "wg-mail";
        description = "Name of the WireGuard interface (created in the host's namespace, then moved into the mail namespace).";
      };
      listenPort = mkOption {
        type = types.nullOr types.port;
        default = null;
        example = 51820;
        description = "UDP port of the tunnel at home; null lets the kernel choose (home connects out, the gateway learns the port).";
      };
    };

    gateway = {
      endpoint = mkOption {
        type = types.nullOr types.str;
        default = null;
        example = "198.51.100.10:51820";
        description = ''
          The gateway's public address and WireGuard port: an IP literal (`[2001:db8:1::10]:51820`
          for IPv6), not a host name, because the peer is configured inside the namespace, which
          has no DNS until this very tunnel is up. Required.
        '';
      };
      inherit
        (helpers.peerKeyOptions {
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
        default = 25;
        example = null;
        description = "Seconds between keepalives, so the home's NAT and firewall keep the tunnel open; null turns them off.";
      };
    };

    nameservers = mkOption {
      type = types.listOf types.str;
      default = [ "127.0.0.1" ];
      example = [ "192.0.2.53" ];
      description = ''
        The resolvers of the confined services (the namespace's resolv.conf). The default is the
        knot-resolver that simple-nixos-mailserver's `mailserver.localDnsResolver` runs, which
        this module moves into the namespace; any other resolver must be reachable through the
        tunnel.
      '';
    };

    openPorts = {
      tcp = portList "TCP ports the internet may open inside the namespace (the namespace's own firewall drops the rest); port 80 is added when acmeCertificates is not empty." [
        25
        465
        993
      ];
      udp = portList "UDP ports the internet may open inside the namespace." [ ];
    };

    extraConfinedServices = mkOption {
      type = types.listOf types.str;
      default = [ ];
      example = [ "opendkim" ];
      description = ''
        More `systemd.services` attribute names to run inside the namespace, besides those
        confined automatically: `postfix` (services.postfix.enable), `${unitNames.dovecot}`
        (services.dovecot2.enable), `kresd@` (services.kresd.enable), `knot-resolver`
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
        request reaches them on the public addresses. Each gets `listenHTTP = ":80"` and no
        webroot by default (no web server runs in the namespace), and port 80 is opened in the
        namespace.
      '';
    };

    rspamdRedisOverUnixSocket = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = ''
        When rspamd is enabled: its redis (`services.redis.servers.rspamd`) listens on a unix
        socket only (no TCP port), and rspamd joins the redis group to use it. Only defaults
        weaker than `mkDefault` are set, so simple-nixos-mailserver's own redis settings (it
        uses the socket too) win, whatever their priority.
      '';
    };

    dropDuplicateDeliveries = mkOption {
      type = types.bool;
      default = true;
      example = false;
      description = ''
        When dovecot delivers (services.dovecot2.enable): a Sieve script discards a message whose
        Message-ID the same mailbox has already received, before any user script runs. A
        delivery that is cut short after the mailbox got the message (the namespace restarts
        while postfix waits for dovecot's reply; an SMTP reply lost in the tunnel) is retried
        with the same Message-ID and would otherwise land twice. The price: a second copy that
        really is the same message (the same Message-ID, e.g. once directly and once through a
        mailing list) is dropped as well.

        With Dovecot 2.4 (nixpkgs' default from `system.stateVersion` 26.05 on) the script is
        `services.dovecot2.settings."sieve_script home_mail_drop_duplicates"` (type `before`),
        beside the mail server's own scripts. With Dovecot 2.3 it is
        `services.dovecot2.sieve.scripts.before`, as a default: a before-script of your own
        wins, and a warning says that retries are then not dropped; nixpkgs needs
        `services.dovecot2.settings.mail_uid` and `mail_gid` for it (the owner of the compiled
        scripts), and without them the filter is left out, with a warning that says so. Without
        simple-nixos-mailserver (which does both itself) the module also loads dovecot's sieve
        plugin for LMTP (2.4: `settings."protocol lmtp".mail_plugins.sieve`; 2.3:
        `mailPlugins.perProtocol.lmtp`) and puts dovecot's pigeonhole package in
        `environment.systemPackages`, where nixpkgs' dovecot looks for plugins.

        postfix then hands dovecot one message at a time (`lmtp_destination_concurrency_limit =
        1`, a default you may override): dovecot's duplicate database loses marks when
        deliveries to one mailbox run in parallel.
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

  config = mkIf cfg.enable (mkMerge [
    {
      homeMail.home = {
        inherit confinedServices plan intent;
      };

      assertions = homeMailLib.homeChecks intent ++ moduleChecks;

      warnings = optional (loopbackNameservers != [ ] && resolverUnits == [ ]) "${root}.nameservers: ${lib.concatStringsSep ", " loopbackNameservers} is the namespace's own loopback, but neither services.kresd nor services.knot-resolver is enabled, so no resolver is known to run there; enable one (simple-nixos-mailserver's mailserver.localDnsResolver does), confine your own resolver with ${root}.extraConfinedServices, or list a resolver reachable through the tunnel";

      # systemd-networkd cannot create an interface in one namespace and move it to another.
      networking.wireguard.useNetworkd = mkForce false;

      networking.wireguard.interfaces.${cfg.wireguard.interface} = helpers.wireguardInterface plan.wireguard // {
        # Removes a leftover WireGuard interface of this name from the host's namespace and refuses
        # one of another type (lib/home.nix), before the unit creates the interface there.
        preSetup = map (helpers.shellLine (helpers.programsOf pkgs)) plan.wireguard.preSetup;
      };

      # The interface unit must wait for the namespace and die with it (a new namespace needs a new
      # interface).
      systemd.services.${wireguardUnit} = plan.units.${wireguardUnit};

      homeMail.netns.${cfg.namespace} = {
        inherit (plan.namespace) sysctl resolvConf;
        nftablesRuleset = plan.namespace.nftables.ruleset;
        services = plan.confinedServices;
        dependencies = [ "${wireguardUnit}.service" ];
      };

      security.acme.certs = genAttrs cfg.acmeCertificates (_: {
        # lego answers the challenge itself inside the namespace.
        listenHTTP = mkDefault ":80";
        webroot = mkDefault null;
      });
    }

    # knot-resolver sets useLocalResolver = mkDefault true, which points the host's resolv.conf at
    # 127.0.0.1; but the resolver now listens in the namespace, so the host (rspamd, nix,
    # everything else) would have no resolver. 900 beats that mkDefault (1000) and still loses to
    # a plain definition.
    (mkIf (resolverUnits != [ ]) {
      networking.resolvconf.useLocalResolver = mkOverride 900 false;
    })

    (mkIf (filterDuplicates && !dovecot24) (mkMerge [
      {
        warnings = optional (!sieveScriptOwnerSet) "${root}.dropDuplicateDeliveries: with Dovecot 2.3, nixpkgs' services.dovecot2.sieve.scripts needs services.dovecot2.settings.mail_uid and mail_gid (the owner of the compiled scripts), which are not set, so the duplicate filter is left out and retried copies of a message are not dropped; set both (the user and group your mail is stored as), use Dovecot 2.4 (system.stateVersion 26.05, or services.dovecot2.package = pkgs.dovecot), or set ${root}.dropDuplicateDeliveries = false";
      }
      (mkIf sieveScriptOwnerSet {
        # A default: a script of the mail server's own at this stage wins, and the warning says so.
        services.dovecot2.sieve.scripts.${duplicateFilter.stage} = mkDefault duplicateFilterFile;
        warnings = optional (
          (dovecot.sieve.scripts.${duplicateFilter.stage} or null) != duplicateFilterFile
        ) "${root}.dropDuplicateDeliveries: services.dovecot2.sieve.scripts.${duplicateFilter.stage} is set elsewhere, so dovecot does not drop retried copies of a message; add the `duplicate` test of this module's drop-duplicates.sieve to that script, or set ${root}.dropDuplicateDeliveries = false";
      })
    ]))

    (mkIf (filterDuplicates && dovecot24) {
      # Dovecot 2.4: a named script of its own (`sieve_script <name> { type = before; ... }`),
      # beside any the mail server defines.
      services.dovecot2.settings."sieve_script ${duplicateFilterName}" = {
        type = duplicateFilter.stage;
        path = duplicateFilterFile;
      };
    })

    (mkIf (filterDuplicates && !mailserver.enable) (mkMerge [
      {
        # nixpkgs' dovecot finds plugins only in packages of environment.systemPackages.
        environment.systemPackages = [ (dovecot.package.passthru.dovecot_pigeonhole or pkgs.dovecot_pigeonhole) ];
      }
      # mkIf, not `if`: which attributes a module defines must not depend on config.
      (mkIf dovecot24 {
        services.dovecot2.settings."protocol lmtp".mail_plugins.sieve = mkDefault true;
      })
      # Only where the dovecot module has mailPlugins (a module that dropped it loads plugins
      # through its settings, which the option's description points to).
      (mkIf (!dovecot24) {
        services.dovecot2 = lib.optionalAttrs (options.services.dovecot2 ? mailPlugins) {
          mailPlugins.perProtocol.lmtp.enable = [ "sieve" ];
        };
      })
    ]))

    (mkIf (config.services.postfix.enable && plan.delivery.postfixMain != { }) {
      # main.cf is services.postfix.settings.main since NixOS 25.11, services.postfix.config before.
      services.postfix =
        let
          settings = lib.mapAttrs (_: mkDefault) plan.delivery.postfixMain;
        in
        if options.services.postfix ? settings then { settings.main = settings; } else { config = settings; };
    })

    (mkIf (config.services.rspamd.enable && cfg.rspamdRedisOverUnixSocket) {
      # Weaker than mkDefault: a mail server module's own defaults win instead of clashing (a
      # port) or being concatenated with ours (the lines of redis.conf).
      services.redis.servers.rspamd = {
        enable = weakDefault true;
        port = weakDefault 0;
      };
      services.rspamd.locals."redis.conf".text = weakDefault ''
        servers = "${redis.unixSocket}";
      '';
      systemd.services.rspamd.serviceConfig.SupplementaryGroups = [ (redis.group or redis.user) ];
    })
  ]);
}
