# The zones of the internet's authoritative name server, as the lab writes them
# (pkgs/mail-lab/src/mail_lab/services/zones.py): per mail domain MX, the MX host's addresses,
# SPF (its public addresses, -all), the DKIM key and DMARC p=reject; the name server; a zone per
# other recipient domain of the remote (world.remoteDomains: its MX, whose host has the remote's
# addresses of the domain's families); one reverse zone per link network with PTRs of the mail
# hosts and the name server. Plus the ACME server's name (the lab resolves it without DNS).
{
  lib,
  homeMailLib,
  topology,
  acme,
  secrets,
  nameservers,
}:
let
  inherit (topology) world;
  ttl = 300;
  mxPreference = 10;

  bare = cidr: builtins.head (lib.splitString "/" cidr);
  isIPv6 = address: lib.hasInfix ":" address;

  homePlan = topology.plans.home;
  home = {
    domain = world.domains.home;
    fqdn = world.machines.home.fqdn;
    addresses = homePlan.addresses.ipv4 ++ homePlan.addresses.ipv6;
  };
  remote = {
    domain = world.domains.remote;
    fqdn = world.machines.remote.fqdn;
    addresses = [
      (bare world.machines.remote.ipv4)
      (bare world.machines.remote.ipv6)
    ];
  };
  nameServer = {
    domain = remote.domain;
    fqdn = "ns.${remote.domain}";
    addresses = nameservers;
  };

  record = name: type: data: { inherit name type data; };
  line = entry: "${entry.name}. ${toString ttl} IN ${entry.type} ${entry.data}\n";

  # TXT character-strings hold at most 255 bytes.
  txtData =
    text:
    let
      chunks = lib.genList (
        index: builtins.substring (index * 255) 255 text
      ) ((builtins.stringLength text + 254) / 255);
    in
    lib.concatMapStringsSep " " (chunk: builtins.toJSON chunk) chunks;

  addressRecords =
    name: addresses:
    map (address: record name (if isIPv6 address then "AAAA" else "A") address) addresses;

  spfText =
    host:
    "v=spf1 "
    + lib.concatStringsSep " " (
      map (a: "ip4:${a}") (lib.filter (a: !isIPv6 a) host.addresses)
      ++ map (a: "ip6:${a}") (lib.filter isIPv6 host.addresses)
    )
    + " -all";

  mailDomainRecords = host: [
    (record host.domain "MX" "${toString mxPreference} ${host.fqdn}.")
  ]
  ++ addressRecords host.fqdn host.addresses
  ++ [
    (record host.domain "TXT" (txtData (spfText host)))
    (record "${secrets.dkimSelector}._domainkey.${host.domain}" "TXT" (
      txtData "v=DKIM1; k=rsa; p=${secrets.dkimPublicKey host.domain}"
    ))
    (record "_dmarc.${host.domain}" "TXT" (txtData "v=DMARC1; p=reject; adkim=r; aspf=r"))
  ];

  families = [
    "ipv4"
    "ipv6"
  ];
  familyOf = address: if isIPv6 address then "ipv6" else "ipv4";
  remoteDomains = world.remoteDomains or { };
  remoteDomainRecords = lib.concatLists (
    lib.mapAttrsToList (
      domain: entry:
      if entry.families == [ ] || !lib.all (family: builtins.elem family families) entry.families then
        throw "tests/topology.nix: world.remoteDomains.${domain}.families is [ ${toString entry.families} ]; give one or both of ipv4, ipv6"
      else
        [ (record domain "MX" "${toString mxPreference} ${entry.mx}.") ]
        ++ addressRecords entry.mx (
          lib.filter (address: builtins.elem (familyOf address) entry.families) remote.addresses
        )
    ) remoteDomains
  );

  forwardRecords =
    mailDomainRecords home
    ++ mailDomainRecords remote
    ++ addressRecords nameServer.fqdn nameServer.addresses
    ++ remoteDomainRecords
    ++ [ (record acme.name "A" acme.ipv4) ];

  # Reverse names: 4 bits per label for IPv6, 8 for IPv4.
  labelsOf =
    address:
    let
      parsed = homeMailLib.ip.parseAddress address;
      nibbles = lib.concatMap (
        group: lib.stringToCharacters (lib.fixedWidthString 4 "0" (lib.toLower (lib.toHexString group)))
      ) parsed.parts;
    in
    if parsed.family == 6 then nibbles else map toString parsed.parts;
  reverseSuffix = address: if isIPv6 address then "ip6.arpa" else "in-addr.arpa";
  reverseName =
    address: lib.concatStringsSep "." (lib.reverseList (labelsOf address) ++ [ (reverseSuffix address) ]);
  reverseZoneName =
    network:
    let
      address = bare network;
      unit = if isIPv6 address then 4 else 8;
      kept = lib.toInt (lib.last (lib.splitString "/" network)) / unit;
    in
    lib.concatStringsSep "." (
      lib.reverseList (lib.take kept (labelsOf address)) ++ [ (reverseSuffix address) ]
    );
  ptrRecords = lib.concatMap (
    host: map (address: record (reverseName address) "PTR" "${host.fqdn}.") host.addresses
  ) [ home remote nameServer ];

  reverseZones = lib.unique (
    lib.concatMap (link: [
      (reverseZoneName link.ipv4)
      (reverseZoneName link.ipv6)
    ]) (lib.attrValues world.internet.links)
  );
  zoneNames = [
    home.domain
    remote.domain
  ]
  ++ lib.attrNames remoteDomains
  ++ reverseZones;

  # The most specific zone a name belongs to.
  owningZone =
    name:
    let
      candidates = lib.filter (zone: name == zone || lib.hasSuffix ".${zone}" name) zoneNames;
    in
    if candidates == [ ] then
      throw "tests/vm/zones.nix: ${name} is in none of the zones ${toString zoneNames}"
    else
      lib.last (lib.sort (a: b: builtins.stringLength a < builtins.stringLength b) candidates);

  allRecords = forwardRecords ++ ptrRecords;

  zoneText =
    zone:
    lib.concatMapStrings line (
      [
        (record zone "SOA" "${nameServer.fqdn}. hostmaster.${nameServer.domain}. 1 3600 600 86400 ${toString ttl}")
        (record zone "NS" "${nameServer.fqdn}.")
      ]
      ++ lib.filter (entry: owningZone entry.name == zone) allRecords
    );
in
lib.genAttrs zoneNames zoneText
