# The zones of the internet's authoritative name server, computed once from the test world and
# the home plan; the lab (pkgs/mail-lab/src/mail_lab/services/zones.py) and the VM tests
# (tests/vm/zones.nix) only write them out. Per mail domain: MX, the MX host's addresses, SPF (its
# public addresses, -all), its DKIM key and DMARC p=reject; the name server; a zone per other
# recipient domain of the remote (world.remoteDomains: its MX, whose host has the remote's
# addresses of the domain's families); one reverse zone per link network with PTRs of the mail
# hosts and the name server; the ACME server's name.
#
# Each zone is a list of records `{ name; type; data; }` (name absolute without the final dot,
# data as in a zone file), SOA (serial 1: a writer may put its own) and NS first. The DKIM keys
# are made where the mail runs (the lab generates them, the VM tests have fixed test files), so
# a DKIM record is `{ name; type = "TXT"; dkimKeyOf = <domain>; }`: its writer puts that domain's
# public key in `v=DKIM1; k=rsa; p=<key>` as its text.
{
  world,
  homePlan,
}:
let
  inherit (import ../lib/self.nix) ip util;

  ttl = 300;
  mxPreference = 10;
  families = [
    "ipv4"
    "ipv6"
  ];

  bare = cidr: builtins.head (util.splitOn "/" cidr);
  isIPv6 = address: (ip.parseAddress address).family == 6;
  familyOf = address: if isIPv6 address then "ipv6" else "ipv4";
  concatMap = f: list: builtins.concatLists (map f list);

  home = {
    domain = world.domains.home;
    inherit (world.machines.home) fqdn;
    addresses = homePlan.addresses.ipv4 ++ homePlan.addresses.ipv6;
  };
  remote = {
    domain = world.domains.remote;
    inherit (world.machines.remote) fqdn;
    addresses = [
      (bare world.machines.remote.ipv4)
      (bare world.machines.remote.ipv6)
    ];
  };
  nameServer = {
    fqdn = world.internet.dns.name;
    addresses = [
      world.internet.dns.ipv4
      world.internet.dns.ipv6
    ];
  };

  record = name: type: data: { inherit name type data; };

  # TXT data: character-strings of at most 255 bytes, quoted.
  txtData =
    text:
    let
      count = (builtins.stringLength text + 254) / 255;
      chunk = index: builtins.toJSON (builtins.substring (index * 255) 255 text);
    in
    builtins.concatStringsSep " " (builtins.genList chunk count);

  addressRecords =
    name: addresses:
    map (address: record name (if isIPv6 address then "AAAA" else "A") address) addresses;

  spfText =
    host:
    "v=spf1 "
    + builtins.concatStringsSep " " (
      map (a: "ip4:${a}") (builtins.filter (a: !isIPv6 a) host.addresses)
      ++ map (a: "ip6:${a}") (builtins.filter isIPv6 host.addresses)
    )
    + " -all";

  mailDomainRecords = host: [
    (record host.domain "MX" "${toString mxPreference} ${host.fqdn}.")
  ]
  ++ addressRecords host.fqdn host.addresses
  ++ [
    (record host.domain "TXT" (txtData (spfText host)))
    {
      name = "${world.dkim.selector}._domainkey.${host.domain}";
      type = "TXT";
      dkimKeyOf = host.domain;
    }
    (record "_dmarc.${host.domain}" "TXT" (txtData "v=DMARC1; p=reject; adkim=r; aspf=r"))
  ];

  remoteDomains = world.remoteDomains or { };
  remoteDomainRecords = concatMap (
    domain:
    let
      entry = remoteDomains.${domain};
    in
    if entry.families == [ ] || !builtins.all (family: builtins.elem family families) entry.families then
      throw "tests/topology.nix: world.remoteDomains.${domain}.families is [ ${toString entry.families} ]; give one or both of ipv4, ipv6"
    else
      [ (record domain "MX" "${toString mxPreference} ${entry.mx}.") ]
      ++ addressRecords entry.mx (
        builtins.filter (address: builtins.elem (familyOf address) entry.families) remote.addresses
      )
  ) (builtins.attrNames remoteDomains);

  acmeRecords =
    let
      acme = world.internet.acme or null;
    in
    if acme == null then
      [ ]
    else
      addressRecords acme.name (
        concatMap (family: if acme ? ${family} then [ acme.${family} ] else [ ]) families
      );

  forwardRecords =
    mailDomainRecords home
    ++ mailDomainRecords remote
    ++ addressRecords nameServer.fqdn nameServer.addresses
    ++ acmeRecords
    ++ remoteDomainRecords;

  # Reverse names: 4 bits per label for IPv6, 8 for IPv4.
  labelsOf =
    address:
    let
      parsed = ip.parseAddress address;
      hex = group: util.intToHex group;
      pad = text: builtins.substring 0 (4 - builtins.stringLength text) "0000" + text;
    in
    if parsed.family == 6 then
      concatMap (group: util.characters (pad (hex group))) parsed.parts
    else
      map toString parsed.parts;
  reverseList = list: builtins.genList (index: builtins.elemAt list (builtins.length list - 1 - index)) (
    builtins.length list
  );
  reverseSuffix = address: if isIPv6 address then "ip6.arpa" else "in-addr.arpa";
  reverseName =
    address: builtins.concatStringsSep "." (reverseList (labelsOf address) ++ [ (reverseSuffix address) ]);
  reverseZoneName =
    network:
    let
      parsed = ip.parseCidr network;
      address = bare network;
      unit = if isIPv6 address then 4 else 8;
      labels = labelsOf address;
      kept = parsed.prefixLength / unit;
    in
    if parsed.prefixLength - kept * unit != 0 then
      throw "tests/topology.nix: ${network}: a reverse zone needs a prefix length that is a multiple of ${toString unit}"
    else
      builtins.concatStringsSep "." (
        reverseList (builtins.genList (builtins.elemAt labels) kept) ++ [ (reverseSuffix address) ]
      );
  ptrRecords = concatMap (
    host: map (address: record (reverseName address) "PTR" "${host.fqdn}.") host.addresses
  ) [ home remote nameServer ];

  reverseZones = util.unique (
    concatMap (link: [
      (reverseZoneName link.ipv4)
      (reverseZoneName link.ipv6)
    ]) (builtins.attrValues world.internet.links)
  );
  zoneNames = [
    home.domain
    remote.domain
  ]
  ++ builtins.attrNames remoteDomains
  ++ reverseZones;

  # The most specific zone a name belongs to.
  owningZone =
    name:
    let
      candidates = builtins.filter (zone: name == zone || util.hasSuffix ".${zone}" name) zoneNames;
      longer = a: b: if builtins.stringLength b > builtins.stringLength a then b else a;
    in
    if candidates == [ ] then
      throw "tests/topology.nix: ${name} is in none of the zones ${toString zoneNames}"
    else
      builtins.foldl' longer (builtins.head candidates) candidates;

  allRecords = forwardRecords ++ ptrRecords;
in
{
  inherit ttl;
  zones = builtins.listToAttrs (
    map (zone: {
      name = zone;
      value = [
        (record zone "SOA" "${nameServer.fqdn}. hostmaster.${remote.domain}. 1 3600 600 86400 ${toString ttl}")
        (record zone "NS" "${nameServer.fqdn}.")
      ]
      ++ builtins.filter (entry: owningZone entry.name == zone) allRecords;
    }) zoneNames
  );
}
