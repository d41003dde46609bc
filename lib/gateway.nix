# The gateway (vServer): its checks and its network plan. See docs/design.md for the intent.
{ lib }:
let
  inherit (lib)
    util
    fields
    addresses
    nftables
    names
    ;
  inherit (lib.checks) check show;
  inherit (builtins)
    attrNames
    concatMap
    concatStringsSep
    filter
    isAttrs
    isString
    listToAttrs
    match
    replaceStrings
    ;

  root = "homeMail.gateway";

  inherit (util) lookup;

  homesOf = intent: if isAttrs intent.homes then intent.homes else { };

  # Every forwarded address with the home it goes to, normalized.
  ownership =
    intent:
    concatMap (
      name:
      map (address: { inherit name address; }) (
        let
          forwarded = addresses.hostAddresses (lookup (homesOf intent) [ name "addresses" ]);
        in
        forwarded.ipv4 ++ forwarded.ipv6
      )
    ) (attrNames (homesOf intent));

  homeChecks =
    intent: name:
    let
      path = "${root}.homes.${name}";
      home = (homesOf intent).${name};
      get = attribute: lookup home [ attribute ];
      uplinkAddresses = addresses.normalizedAddresses (lookup intent [ "uplink" "addresses" ]);
      forwarded = addresses.hostAddresses (get "addresses");
      otherOwners =
        address:
        map (owner: owner.name) (
          filter (owner: owner.address == address && owner.name != name) (ownership intent)
        );
      earlierOwners = address: filter (other: other < name) (otherOwners address);
      publicKeyTwins = filter (
        other: other != name && lookup (homesOf intent) [ other "publicKey" ] == get "publicKey"
      ) (attrNames (homesOf intent));
    in
    [
      (check path (isAttrs home) "${show home} is not a set of home options; write e.g. { publicKey = \"...\"; addresses = [ ... ]; }")
      (check path (
        match "[A-Za-z0-9_-]+" name != null
      ) "the home name ${show name} may only contain letters, digits, \"_\" and \"-\": it becomes the WireGuard peer name and part of the unit wireguard-<interface>-peer-<name>.service")
    ]
    ++ fields.publicKeyChecks "${path}.publicKey" (get "publicKey")
    ++ [
      (check "${path}.publicKey" (
        publicKeyTwins == [ ] || get "publicKey" == null
      ) "${show (get "publicKey")} is also the key of home ${util.quotedList publicKeyTwins}; every home needs its own key pair (WireGuard tells peers apart by their public key)")
    ]
    ++ fields.secretFileChecks {
      required = false;
      example = "/etc/wireguard/${name}.psk";
    } "${path}.presharedKeyFile" (get "presharedKeyFile")
    ++ addresses.hostAddressListChecks "${path}.addresses" (get "addresses")
    ++ map (
      address:
      check "${path}.addresses" (
        !builtins.elem address uplinkAddresses
      ) "${address} is also in ${root}.uplink.addresses; the gateway must not own a forwarded address: remove it from the uplink, or forward another address"
    ) (forwarded.ipv4 ++ forwarded.ipv6)
    ++ map (
      address:
      check "${path}.addresses" (
        earlierOwners address == [ ]
      ) "${address} is also forwarded to home ${util.quotedList (earlierOwners address)}; an address can go to one home only"
    ) (forwarded.ipv4 ++ forwarded.ipv6);

  checks =
    { intent, get }:
    let
      homes = get [ "homes" ];
      wireguardInterface = get [ "wireguard" "interface" ];
    in
    fields.interfaceNameChecks { example = "eth0"; } "${root}.uplink.interface" (get [ "uplink" "interface" ])
    ++ addresses.cidrListChecks { example = "198.51.100.10/24"; } "${root}.uplink.addresses" (get [
      "uplink"
      "addresses"
    ])
    ++ fields.wireguardChecks { listenPortChecks = fields.portChecks; } "${root}.wireguard" (
      name: get [ "wireguard" name ]
    )
    ++ [
      (check "${root}.wireguard.interface" (
        wireguardInterface != get [ "uplink" "interface" ]
      ) "${show wireguardInterface} is also ${root}.uplink.interface; the tunnel needs its own interface, e.g. \"wg0\"")
    ]
    ++ [
      (check "${root}.homes" (isAttrs homes) "${show homes} is not a set of homes; write e.g. { home = { publicKey = \"...\"; addresses = [ ... ]; }; }")
      (check "${root}.homes" (
        !isAttrs homes || homes != { }
      ) "is empty; add the home that receives the forwarded addresses, e.g. homes.home = { publicKey = \"...\"; addresses = [ \"198.51.100.11/32\" ]; }")
    ]
    ++ concatMap (homeChecks intent) (attrNames (homesOf intent))
    ++ fields.portListChecks "${root}.forwardedPorts.tcp" (get [ "forwardedPorts" "tcp" ])
    ++ fields.portListChecks "${root}.forwardedPorts.udp" (get [ "forwardedPorts" "udp" ])
    ++ fields.boolChecks "${root}.mssClamp" (get [ "mssClamp" ]);

  plan =
    { intent, get }:
    let
      uplinkInterface = get [ "uplink" "interface" ];
      wireguardInterface = get [ "wireguard" "interface" ];
      homes = homesOf intent;
      homeNames = attrNames homes;
      forwardedOf = name: addresses.hostAddresses (lookup homes [ name "addresses" ]);
      forwardedIPv4 = util.unique (concatMap (name: (forwardedOf name).ipv4) homeNames);
      forwardedIPv6 = util.unique (concatMap (name: (forwardedOf name).ipv6) homeNames);
      # sysctl keys use "/" for the dots of an interface name such as eth0.100.
      sysctlName = replaceStrings [ "." ] [ "/" ] (if isString uplinkInterface then uplinkInterface else "");
      mtu = get [ "wireguard" "mtu" ];
      # Home dials out from an ISP address the gateway only learns from home's packets; a restarted
      # gateway would forget it and wait for home's next handshake (up to two minutes). So the
      # endpoints are saved when the interface goes down, and every saveInterval seconds while it
      # is up (a crashed gateway never stops cleanly), and set again when it comes back.
      saveInterval = 15;
      wireguardNames = names.wireguard (toString wireguardInterface);
      saverUnit = wireguardNames.endpointSaver;
      interfaceUnit = wireguardNames.unit;
      # The proxy NDP entries live on the uplink device: re-added whenever it (re)appears.
      proxyNdpUnit = names.proxyNdp;
      uplinkDevice = names.deviceUnit (if isString uplinkInterface then uplinkInterface else "");
      proxyCommand = verb: address: [
        verb
        "-6"
        "neigh"
        (if verb == "-ip" then "del" else "replace")
        "proxy"
        address
        "dev"
        (toString uplinkInterface)
      ];
      endpointFile = wireguardNames.endpointFile;
      homeKeys = concatStringsSep " " (map (name: toString (lookup homes [ name "publicKey" ])) homeNames);
      # Merged: each peer unit saves when it stops, while the peers stopped before are already
      # gone; their lines from the file are kept (first line per key wins). Each writer has its
      # own temporary file ($$, the shell's PID): the peer units and the loop may save at once.
      saveEndpoints = concatStringsSep " " [
        "mkdir -p ${dirOf endpointFile};"
        "{ wg show ${toString wireguardInterface} endpoints; cat ${endpointFile} 2>/dev/null; } |"
        "{ seen=' '; while read -r key endpoint; do"
        "case \"$endpoint$seen\" in '(none)'*|*\" $key \"*) continue;; esac;"
        "seen=\"$seen$key \"; echo \"$key $endpoint\"; done; } > ${endpointFile}.$$ &&"
        # Written only when it changed: the periodic save must not rewrite the disk every time.
        "if [ \"$(cat ${endpointFile}.$$)\" = \"$(cat ${endpointFile} 2>/dev/null)\" ];"
        "then rm -f ${endpointFile}.$$; else mv ${endpointFile}.$$ ${endpointFile}; fi || true"
      ];
      # Only for homes still configured; a failure must never keep the interface down.
      restoreEndpoints = concatStringsSep " " [
        "[ -r ${endpointFile} ] || exit 0;"
        "while read -r key endpoint; do case ' ${homeKeys} ' in *\" $key \"*)"
        "wg set ${toString wireguardInterface} peer \"$key\" endpoint \"$endpoint\" || true;;"
        "esac; done < ${endpointFile}"
      ];
    in
    {
      role = "gateway";
      uplink = {
        interface = uplinkInterface;
        addresses = get [ "uplink" "addresses" ];
      };
      forwardedAddresses = {
        ipv4 = forwardedIPv4;
        ipv6 = forwardedIPv6;
      };
      wireguard = {
        interface = wireguardInterface;
        # The interface's unit (what the doctor and the lab restart); not an interface option.
        unit = interfaceUnit;
        ips = [ ];
        listenPort = get [ "wireguard" "listenPort" ];
        inherit mtu;
        privateKeyFile = get [ "wireguard" "privateKeyFile" ];
        interfaceNamespace = null;
        socketNamespace = null;
        allowedIPsAsRoutes = true;
        table = "main";
        peers = map (name: {
          inherit name;
          publicKey = lookup homes [ name "publicKey" ];
          presharedKeyFile = lookup homes [ name "presharedKeyFile" ];
          endpoint = null;
          allowedIPs = (forwardedOf name).cidrs;
          persistentKeepalive = null;
        }) homeNames;
        # networking.wireguard.interfaces.<if>.postSetup, as argument lists.
        postSetup = [
          [
            "sh"
            "-c"
            restoreEndpoints
          ]
        ];
      };
      # The units of networking.wireguard.interfaces.<if>: the interface's and one per peer.
      wireguardUnits = {
        interface = interfaceUnit;
        peers = listToAttrs (
          map (name: {
            inherit name;
            value = wireguardNames.peerUnit name;
          }) homeNames
        );
      };
      endpointMemory = {
        file = endpointFile;
        inherit saveInterval;
        unit = saverUnit;
      };
      # Saved by each peer unit's ExecStop: it runs before the unit's postStop removes the peer
      # (the interface's preShutdown would come too late, after the peers are gone). And by a
      # loop while the interface is up, like the NixOS module's own endpoint refresh units.
      units =
        listToAttrs (
          map (name: {
            name = wireguardNames.peerService name;
            # `path` names packages (nixpkgs' attribute names, Debian's too): the saving script runs `wg`.
            value.path = [ "wireguard-tools" ];
            value.serviceConfig.ExecStop = [
              [
                "sh"
                "-c"
                saveEndpoints
              ]
            ];
          }) homeNames
        )
        // {
          ${saverUnit} = {
            description = "Saves the endpoints of the homes on ${toString wireguardInterface} every ${toString saveInterval} s";
            wantedBy = [ interfaceUnit ];
            bindsTo = [ interfaceUnit ];
            after = [ interfaceUnit ];
            path = [ "wireguard-tools" ];
            serviceConfig = {
              Type = "simple";
              ExecStart = [
                [
                  "sh"
                  "-c"
                  "while :; do ${saveEndpoints}; sleep ${toString saveInterval}; done"
                ]
              ];
            };
          };
        };
      # What allowedIPsAsRoutes makes the NixOS peer units install. proxy_arp answers for an
      # address only because of its route via the tunnel.
      routes = concatMap (
        name:
        map (destination: {
          namespace = null;
          inherit destination;
          dev = wireguardInterface;
          table = "main";
        }) (forwardedOf name).cidrs
      ) homeNames;
      sysctl = {
        "net.ipv4.conf.all.forwarding" = 1;
        "net.ipv6.conf.all.forwarding" = 1;
        "net.ipv4.conf.${sysctlName}.proxy_arp" = 1;
        "net.ipv6.conf.${sysctlName}.proxy_ndp" = 1;
        # The kernel delays proxy answers by up to 0.8 s by default.
        "net.ipv4.neigh.${sysctlName}.proxy_delay" = 0;
        "net.ipv6.neigh.${sysctlName}.proxy_delay" = 0;
        # With forwarding on, the kernel ignores router advertisements unless accept_ra is 2, and a
        # vServer that learns its default route by RA would lose it.
        "net.ipv6.conf.${sysctlName}.accept_ra" = 2;
      };
      # proxy_ndp answers only for addresses listed one by one (`ip -6 neigh add proxy`).
      proxyNeighbours = map (address: {
        inherit address;
        dev = uplinkInterface;
      }) forwardedIPv6;
      # One oneshot unit bound to the uplink device rather than networkd's IPv6ProxyNDPAddress=:
      # it works whether the uplink is configured by scripted networking, by networkd or by the
      # provider's tooling, and it re-adds the entries whenever the device reappears. `replace`
      # keeps it idempotent. Apart from `units`: the lab has no device units.
      proxyNdp = {
        unit = proxyNdpUnit;
        device = uplinkDevice;
        units = listToAttrs (
          map (_: {
            name = proxyNdpUnit;
            value = {
              description = "Proxy NDP on ${toString uplinkInterface} for the addresses forwarded over ${toString wireguardInterface}";
              wantedBy = [
                "multi-user.target"
                uplinkDevice
              ];
              bindsTo = [ uplinkDevice ];
              after = [ uplinkDevice ];
              serviceConfig = {
                Type = "oneshot";
                RemainAfterExit = true;
                ExecStart = map (proxyCommand "ip") forwardedIPv6;
                ExecStop = map (proxyCommand "-ip") forwardedIPv6;
              };
            };
          }) (if forwardedIPv6 == [ ] then [ ] else [ null ])
        );
      };
      nftables = nftables.gateway {
        inherit wireguardInterface;
        # A bad MTU is reported by the checks; the ruleset is computed with the default meanwhile.
        mtu = if builtins.isInt mtu then mtu else lib.intent.gatewayDefaults.wireguard.mtu;
        mssClamp = get [ "mssClamp" ] != false;
        forwarded = {
          ipv4 = forwardedIPv4;
          ipv6 = forwardedIPv6;
        };
        ports = fields.usablePorts (get [ "forwardedPorts" ]);
      };
      firewall.allowedUDPPorts = [ (get [ "wireguard" "listenPort" ]) ];
    };
in
lib.role.role {
  withDefaults = lib.intent.withGatewayDefaults;
  inherit checks plan;
}
