# The home: its checks and its network plan. See docs/design.md for the intent.
{ lib }:
let
  inherit (lib)
    fields
    addresses
    nftables
    confine
    names
    ;
  inherit (lib.checks) check;
  inherit (builtins)
    concatStringsSep
    filter
    isList
    isString
    listToAttrs
    ;

  root = "homeMail.home";

  # Namespace sysctls: nothing is routed through the namespace, and no router advertisement may
  # add addresses or routes besides the tunnel's. keep_addr_on_down keeps the IPv6 address on the
  # tunnel when someone takes it down and up again.
  namespaceSysctl = {
    "net.ipv4.conf.all.forwarding" = 0;
    "net.ipv6.conf.all.forwarding" = 0;
    "net.ipv6.conf.all.accept_ra" = 0;
    "net.ipv6.conf.default.accept_ra" = 0;
    "net.ipv6.conf.all.keep_addr_on_down" = 1;
  };

  # Names derived from option values; a bad (non-string) value gives "" so the plan never throws.
  text = value: if isString value then value else "";

  # networking.wireguard.interfaces.<if>.preSetup: runs in the host's namespace right before the
  # interface is created there. An interface of the tunnel's name left in the host's namespace
  # (an earlier configuration kept it there, or a start failed between creating it and moving
  # it into the namespace) would make that creation fail with "RTNETLINK answers: File exists".
  # A leftover WireGuard interface (`wg show` knows it: kernel or userspace) is removed, and the
  # start waits until a userspace implementation has closed its control socket; an interface of
  # any other type is never touched: the start fails with a message naming the option.
  clearLeftoverInterface = [
    "sh"
    "-c"
    # One line, so that a failure's log shows the command and its message together.
    (concatStringsSep " " [
      "ip link show dev \"$1\" >/dev/null 2>&1 || exit 0;"
      "if wg show \"$1\" >/dev/null 2>&1; then ip link delete dev \"$1\" || exit 1;"
      "i=0; while [ -e \"/run/wireguard/$1.sock\" ] && [ \"$i\" -lt 100 ]; do sleep 0.1; i=$((i + 1)); done;"
      "exit 0; fi;"
      "echo \"${root}.wireguard.interface: the host's network namespace has an interface named $1 that is not a WireGuard interface, so the tunnel cannot be created; it was left as it is. Remove it (ip link delete dev $1) if nothing needs it, or choose another ${root}.wireguard.interface\" >&2;"
      "exit 1"
    ])
  ];

  checks =
    { intent, get }:
    let
      namespace = get [ "namespace" ];
      wireguardInterface = get [ "wireguard" "interface" ];
      own = addresses.hostAddresses (get [ "addresses" ]);
      endpoint = fields.parseEndpoint (get [ "gateway" "endpoint" ]);
    in
    fields.namespaceNameChecks "${root}.namespace" namespace
    ++ addresses.hostAddressListChecks "${root}.addresses" (get [ "addresses" ])
    ++ fields.wireguardChecks { listenPortChecks = fields.optionalPortChecks; } "${root}.wireguard" (
      name: get [ "wireguard" name ]
    )
    ++ fields.endpointChecks {
      inherit namespace;
      example = "198.51.100.10:51820";
    } "${root}.gateway.endpoint" (get [ "gateway" "endpoint" ])
    ++ [
      (check "${root}.gateway.endpoint" (
        !endpoint.valid || !builtins.elem endpoint.address (own.ipv4 ++ own.ipv6)
      ) "${endpoint.address or ""} is one of ${root}.addresses, which live inside the tunnel; give the gateway's own uplink address")
    ]
    ++ fields.publicKeyChecks "${root}.gateway.publicKey" (get [ "gateway" "publicKey" ])
    ++ fields.secretFileChecks {
      required = false;
      example = "/etc/wireguard/wg0.psk";
    } "${root}.gateway.presharedKeyFile" (get [ "gateway" "presharedKeyFile" ])
    ++ fields.persistentKeepaliveChecks "${root}.gateway.persistentKeepalive" (get [
      "gateway"
      "persistentKeepalive"
    ])
    ++ fields.nameserverChecks "${root}.nameservers" (get [ "nameservers" ])
    ++ fields.portListChecks "${root}.openPorts.tcp" (get [ "openPorts" "tcp" ])
    ++ fields.portListChecks "${root}.openPorts.udp" (get [ "openPorts" "udp" ])
    ++ fields.boolChecks "${root}.dropDuplicateDeliveries" (get [ "dropDuplicateDeliveries" ])
    ++ fields.serviceListChecks {
      # listToAttrs: with a bad namespace name two of these names could be equal.
      forbidden = listToAttrs [
        {
          name = names.netnsTemplate;
          value = "is the unit that creates the namespace, it cannot run inside it";
        }
        {
          name = (names.netns (text namespace)).service;
          value = "is the unit that creates the namespace, it cannot run inside it";
        }
        {
          name = (names.wireguard (text wireguardInterface)).service;
          value = "creates the tunnel in the host namespace and moves it into the namespace itself";
        }
      ];
    } "${root}.services" (get [ "services" ]);

  plan =
    { intent, get }:
    let
      namespace = get [ "namespace" ];
      namespaceName = text namespace;
      wireguardInterface = get [ "wireguard" "interface" ];
      netns = names.netns namespaceName;
      wireguardUnits = names.wireguard (text wireguardInterface);
      own = addresses.hostAddresses (get [ "addresses" ]);
      endpoint = fields.parseEndpoint (get [ "gateway" "endpoint" ]);
      nameservers = filter isString (if isList (get [ "nameservers" ]) then get [ "nameservers" ] else [ ]);
      services = filter isString (if isList (get [ "services" ]) then get [ "services" ] else [ ]);
      resolvConf = concatStringsSep "" (map (server: "nameserver ${server}\n") nameservers);
      firewall = nftables.homeNamespace { ports = fields.usablePorts (get [ "openPorts" ]); };
    in
    {
      role = "home";
      namespace = {
        name = namespace;
        inherit (netns) unit path;
        sysctl = namespaceSysctl;
        inherit resolvConf;
        nftables = firewall;
        # Files under /etc (environment.etc in NixOS).
        etc = {
          ${netns.etc.resolvConf} = resolvConf;
          ${netns.etc.ruleset} = firewall.ruleset;
        };
      };
      addresses = {
        inherit (own) ipv4 ipv6;
      };
      wireguard = {
        interface = wireguardInterface;
        # The interface's unit (what the doctor and the lab restart); not an interface option.
        inherit (wireguardUnits) unit;
        ips = own.cidrs;
        listenPort = get [ "wireguard" "listenPort" ];
        mtu = get [ "wireguard" "mtu" ];
        privateKeyFile = get [ "wireguard" "privateKeyFile" ];
        # Born in the host namespace, so its UDP socket uses the ISP line; moved into the namespace.
        interfaceNamespace = namespace;
        socketNamespace = null;
        allowedIPsAsRoutes = true;
        table = "main";
        # As argument lists (the program, then its arguments): "sh" "-c" <script> <name> <interface>.
        preSetup = [ (clearLeftoverInterface ++ [ "clear-leftover-interface" (text wireguardInterface) ]) ];
        peers = [
          {
            name = "gateway";
            publicKey = get [ "gateway" "publicKey" ];
            presharedKeyFile = get [ "gateway" "presharedKeyFile" ];
            endpoint = if endpoint.valid then endpoint.normalized else get [ "gateway" "endpoint" ];
            allowedIPs = [
              "0.0.0.0/0"
              "::/0"
            ];
            persistentKeepalive = get [ "gateway" "persistentKeepalive" ];
          }
        ];
      };
      # The units of networking.wireguard.interfaces.<if>: the interface's and its peer's.
      wireguardUnits = {
        interface = wireguardUnits.unit;
        peers.gateway = wireguardUnits.peerUnit "gateway";
      };
      # The peer's allowedIPs, installed as routes inside the namespace: its only default routes.
      routes =
        map
          (destination: {
            inherit namespace destination;
            dev = wireguardInterface;
            table = "main";
          })
          [
            "0.0.0.0/0"
            "::/0"
          ];
      # listToAttrs, not { }: with a bad namespace name two unit names could be equal.
      units = listToAttrs (
        [
          {
            name = names.netnsTemplate;
            value = confine.netnsTemplate;
          }
          {
            name = netns.service;
            value = confine.netnsInstance {
              name = namespaceName;
              sysctl = namespaceSysctl;
            };
          }
          {
            name = wireguardUnits.service;
            value = {
              bindsTo = [ netns.unit ];
              after = [ netns.unit ];
              # A start of the namespace unit brings the tunnel back (BindsTo= only stops it).
              wantedBy = [ netns.unit ];
            };
          }
        ]
        ++ map (service: {
          name = service;
          value = confine.moveNs {
            namespace = namespaceName;
            inherit service;
            after = [ wireguardUnits.unit ];
            wants = [ wireguardUnits.unit ];
          };
        }) services
      );
      confinedServices = services;
      delivery =
        if get [ "dropDuplicateDeliveries" ] == true then
          {
            # A Sieve script dovecot runs before any user script when it delivers (NixOS:
            # services.dovecot2.sieve.scripts.<stage>): it drops a retried copy of a message.
            duplicateFilter = {
              stage = "before";
              script = builtins.readFile ./drop-duplicates.sieve;
            };
            # postfix main.cf: one LMTP delivery at a time. dovecot's duplicate database is
            # rewritten whole by each delivery, so parallel deliveries to a mailbox lose each
            # other's marks (dovecot 2.3 kept 56 of 200 in the lab) and a retry gets through.
            postfixMain.lmtp_destination_concurrency_limit = 1;
            # dovecot's `protocol lmtp` settings. The filter's marks live in the mailbox's home
            # (~/.dovecot.lda-dupes), which dovecot only creates when it stores the first message,
            # after the filter wrote them: the first delivery to a new mailbox logged "duplicate
            # db: transaction: file_dotlock_open(...) failed". The quota check at RCPT opens the
            # INBOX, which creates the mailbox and its home first.
            dovecotLmtp.lmtp_rcpt_check_quota = true;
          }
        else
          {
            duplicateFilter = null;
            postfixMain = { };
            dovecotLmtp = { };
          };
    };
in
lib.role.role {
  withDefaults = lib.intent.withHomeDefaults;
  inherit checks plan;
}
