# Checks for single option values (ports, names, keys, key files, endpoints, ...), shared by the
# gateway and the home. Each `...Checks path value` returns a list of checks (see checks.nix).
{ lib }:
let
  inherit (lib) util ip;
  inherit (lib.checks) check show listChecks;
  inherit (builtins)
    elem
    elemAt
    genList
    head
    isInt
    isList
    isString
    length
    match
    stringLength
    ;

  isPort = value: isInt value && value >= 1 && value <= 65535;

  # Linux IFNAMSIZ is 16 bytes including the terminating NUL.
  maxInterfaceNameLength = 15;

  # The last base64 character of a 32-byte key carries 4 data bits and 2 zero bits.
  wireguardKeyPattern = "[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=";

  otherUnitSuffixes = "socket|target|timer|mount|automount|path|slice|scope|device|swap";

  # For each element, whether an earlier element has the same key (null keys never repeat).
  repeatsEarlier =
    keys: index:
    let
      key = elemAt keys index;
    in
    key != null && elem key (genList (elemAt keys) index);
in
rec {
  inherit isPort wireguardKeyPattern;

  boolChecks = path: value: [
    (check path (builtins.isBool value) "${show value} is not true or false; write true or false (without quotes)")
  ];

  portChecks = path: value: [
    (check path (isPort value) "${show value} is not a port; use a number from 1 to 65535")
  ];

  optionalPortChecks = path: value: [
    (check path (
      value == null || isPort value
    ) "${show value} is not a port; use a number from 1 to 65535, or null to let the kernel pick one")
  ];

  # { tcp; udp; } as sorted lists of the valid ports, each once (what a ruleset can use).
  usablePorts =
    ports:
    let
      valid =
        protocol:
        let
          list = util.attrByPath [ protocol ] [ ] ports;
        in
        util.unique (builtins.filter isPort (if isList list then list else [ ]));
    in
    {
      tcp = builtins.sort builtins.lessThan (valid "tcp");
      udp = builtins.sort builtins.lessThan (valid "udp");
    };

  portListChecks =
    path: value:
    if !isList value then
      [ (check path false "${show value} is not a list of ports; write e.g. [ 25 465 993 ]") ]
    else
      map (
        port: check path (isPort port) "${show port} is not a port; list numbers from 1 to 65535"
      ) value
      ++ map (port: check path false "port ${show port} is listed more than once; list it once") (
        util.duplicates value
      );

  # An integer in [minimum, maximum], or null when `nullable`; `advice` explains the range.
  rangeChecks =
    {
      minimum,
      maximum,
      nullable ? false,
      advice,
    }:
    path: value: [
      (check path (
        (nullable && value == null) || (isInt value && value >= minimum && value <= maximum)
      ) "${show value} is ${
        if isInt value then "outside" else "not a whole number in"
      } ${toString minimum}..${toString maximum}${if nullable then " (or null)" else ""}; ${advice}")
    ];

  mtuChecks = rangeChecks {
    minimum = 1280;
    maximum = 9000;
    advice = "IPv6 needs at least 1280 and no common line carries more than 9000; 1420 fits a 1500-byte line (use 1412 behind PPPoE), and give both ends the same value";
  };

  persistentKeepaliveChecks = rangeChecks {
    minimum = 0;
    maximum = 65535;
    nullable = true;
    advice = "give the seconds between keepalives (25 keeps the home's NAT mapping open; 0 or null turns them off)";
  };

  interfaceNameChecks =
    { example }:
    path: value:
    let
      name = if isString value then value else "";
    in
    [
      (check path (isString value && value != "") "${show value} is not an interface name; write e.g. \"${example}\"")
      (check path (stringLength name <= maxInterfaceNameLength) "${show value} has ${toString (stringLength name)} characters, but Linux interface names have at most ${toString maxInterfaceNameLength} (IFNAMSIZ); choose a shorter name")
      (check path (
        name == "" || (match "[A-Za-z0-9_.-]+" name != null && !elem name [ "." ".." ])
      ) "${show value} is not a usable interface name; use letters, digits, \"_\", \".\" and \"-\" only (it also becomes part of systemd unit names)")
      (check path (
        !elem name [ "all" "default" ]
      ) "${show value} clashes with the sysctl directories net.ipv4.conf.all and .default; choose another name, e.g. \"${example}\"")
    ];

  namespaceNameChecks =
    path: value:
    let
      name = if isString value then value else "";
    in
    [
      (check path (isString value && value != "") "${show value} is not a namespace name; write e.g. \"wg\"")
      (check path (stringLength name <= 15) "${show value} has ${toString (stringLength name)} characters; keep namespace names to at most 15, the interface-name limit, so names derived from it (veths, wg interfaces) still fit")
      (check path (
        name == "" || match "[A-Za-z0-9_-]+" name != null
      ) "${show value} may only contain letters, digits, \"_\" and \"-\": it becomes the file /run/netns/<name>, the directory /etc/netns/<name> and the instance of netns@<name>.service")
      (check path (
        name != "init"
      ) "\"init\" means the host's own namespace (PID 1) to the NixOS WireGuard module, so nothing would be confined; choose another name, e.g. \"wg\"")
      (check path (
        name != "default"
      ) "\"default\" would be mistaken for the host's default namespace; choose another name, e.g. \"wg\"")
    ];

  publicKeyChecks = path: value: [
    (check path (
      isString value && match wireguardKeyPattern value != null
    ) "${
      if value == null then "is not set" else "${show value} is not a WireGuard public key"
    }: give 44 characters of base64 for 32 bytes, ending in \"=\", as printed by `wg pubkey < private.key`")
  ];

  # The `wireguard` options both ends have (modules/helpers/options.nix wireguardOptions): the interface
  # name, MTU, listen port and private key file. `option name` is the value of option `name`; the
  # listen port is fixed at the gateway (portChecks) and optional at home (optionalPortChecks).
  wireguardChecks =
    { listenPortChecks }:
    path: option:
    interfaceNameChecks { example = "wg0"; } "${path}.interface" (option "interface")
    ++ mtuChecks "${path}.mtu" (option "mtu")
    ++ listenPortChecks "${path}.listenPort" (option "listenPort")
    ++ secretFileChecks {
      required = true;
      example = "/etc/wireguard/wg0.key";
    } "${path}.privateKeyFile" (option "privateKeyFile");

  # A file holding a secret (private or preshared key), given as an absolute path outside the store.
  secretFileChecks =
    {
      required,
      example,
    }:
    path: value:
    let
      text = if isString value then value else "";
    in
    [
      (check path (
        !required || value != null
      ) "is not set; give the path of a root-only file holding the key, e.g. \"${example}\" (create it with `umask 077; wg genkey > ${example}`)")
      (check path (
        !builtins.isPath value
      ) "${show value} is a Nix path, so the key would be copied into the world-readable Nix store; write it as a string of a path outside the store, e.g. \"${example}\"")
      (check path (
        value == null || builtins.isPath value || isString value
      ) "${show value} is not a file path; write e.g. \"${example}\"")
      (check path (
        text == "" || util.hasPrefix "/" text
      ) "${show value} is not an absolute path; write e.g. \"${example}\"")
      (check path (
        !util.hasPrefix "/nix/store" text
      ) "${show value} is in the Nix store, which every local user can read; keep the key outside it, e.g. \"${example}\" or a path from a secrets manager (agenix, sops-nix)")
    ];

  # "198.51.100.10:51820" or "[2001:db8:1::10]:51820".
  parseEndpoint =
    text:
    let
      bracketed = match "\\[([^]]*)](:(.*))?" text;
      plain = match "([^:]*)(:(.*))?" text;
      parts = if bracketed != null then bracketed else plain;
      hostText = head parts;
      portText = elemAt parts 2;
      address = ip.parseAddress hostText;
      port = if portText != null && match "[0-9]{1,5}" portText != null then util.decimalToInt portText else null;
      looksLikeHostName = match "[A-Za-z0-9.-]*[A-Za-z-][A-Za-z0-9.-]*" hostText != null;
      failure = kind: {
        valid = false;
        inherit kind;
      };
    in
    if !isString text || text == "" then
      failure "unset"
    else if bracketed == null && match ".*:.*:.*" text != null then
      failure "unbracketed"
    else if parts == null then
      failure "malformed"
    else if bracketed == null && looksLikeHostName then
      failure "hostname"
    else if !address.valid then
      failure "malformed" // { inherit (address) error; }
    else if bracketed != null && address.family == 4 then
      failure "bracketedIPv4"
    else if portText == null then
      failure "noPort"
    else if port == null || !isPort port then
      failure "badPort"
    else
      {
        valid = true;
        inherit (address) family;
        address = address.address;
        inherit port;
        normalized = if address.family == 6 then "[${address.address}]:${toString port}" else "${address.address}:${toString port}";
      };

  # `namespace` is where WireGuard resolves the endpoint (the home's interfaceNamespace).
  endpointChecks =
    { namespace, example }:
    path: value:
    let
      parsed = parseEndpoint value;
      address = ip.parseAddress parsed.address;
      explain = {
        unset = "is not set; give the gateway's public IP address and WireGuard port, e.g. \"${example}\"";
        unbracketed = "${show value} is an IPv6 address with a port but without brackets; write \"[<address>]:<port>\", e.g. \"[2001:db8:1::10]:51820\"";
        malformed = "${show value} is not \"<IPv4>:<port>\" or \"[<IPv6>]:<port>\"${
          if parsed ? error then " (the address ${parsed.error})" else ""
        }; write e.g. \"${example}\"";
        hostname = "${show value} is a host name; write the gateway's IP address, e.g. \"${example}\": WireGuard resolves the name inside namespace ${show namespace}, which has no route to any DNS server until this very tunnel is up, so it would retry forever";
        bracketedIPv4 = "${show value} puts an IPv4 address in brackets; write \"<IPv4>:<port>\", e.g. \"${example}\"";
        noPort = "${show value} has no port; append the gateway's WireGuard listenPort, e.g. \"${example}\"";
        badPort = "${show value} has an invalid port; use the gateway's WireGuard listenPort (1 to 65535), e.g. \"${example}\"";
      };
    in
    [
      (check path parsed.valid explain.${parsed.kind or "malformed"})
      (check path (
        !parsed.valid || ip.kind address == "unicast"
      ) "${show value} is a ${ip.kind address} address; give the gateway's public unicast address, e.g. \"${example}\"")
    ];

  nameserverChecks =
    path: value:
    let
      entries = if isList value then value else [ ];
      parsed = map ip.parseCidr entries;
      keys = map (entry: if entry.valid then entry.address else null) parsed;
      entryChecks =
        index: entry:
        let
          result = elemAt parsed index;
        in
        [
          (check path result.valid "${show entry} ${result.error or ""}; write a bare IP address such as \"127.0.0.1\" or \"2001:db8:3::53\"")
          (check path (
            !result.valid || result.prefixLength == null
          ) "${show entry} has a prefix length; write the bare address \"${result.address or ""}\"")
          (check path (!repeatsEarlier keys index) "${show entry} is listed more than once; list it once")
        ];
    in
    listChecks value [
      (check path (util.isStringList value) "${show value} is not a list of IP addresses; write e.g. [ \"127.0.0.1\" ]")
      (check path (
        !isList value || value != [ ]
      ) "is empty; the confined services need a resolver: list \"127.0.0.1\" when knot-resolver (kresd@) runs in the namespace, or a resolver's IP address")
      (check path (
        length entries <= 3
      ) "lists ${toString (length entries)} nameservers, but the C library uses only the first 3 (MAXNS); list at most 3")
    ] entryChecks;

  # `forbidden` maps unit attribute names that must not be confined to the reason.
  serviceListChecks =
    { forbidden }:
    path: value:
    let
      entries = if isList value then value else [ ];
      entryChecks =
        index: entry:
        let
          name = if isString entry then entry else "";
          withoutSuffix = builtins.replaceStrings [ ".service" ] [ "" ] name;
        in
        [
          (check path (
            isString entry && entry != ""
          ) "${show entry} is not a service name; give attribute names of systemd.services, e.g. \"postfix\"")
          (check path (
            !util.hasSuffix ".service" name
          ) "${show entry} names a unit file; give the attribute name of systemd.services without \".service\": ${show withoutSuffix}")
          (check path (
            match ".*\\.(${otherUnitSuffixes})" name == null
          ) "${show entry} is not a service; only services (attribute names of systemd.services) can be moved into the namespace")
          (check path (
            name == "" || match "[A-Za-z0-9:_.@-]+" name != null
          ) "${show entry} is not a systemd unit name; use letters, digits and \":_.@-\" only")
          (check path (!forbidden ? ${name}) "${show entry} ${forbidden.${name} or ""}; remove it from the list")
          (check path (!repeatsEarlier entries index) "${show entry} is listed more than once; list it once")
        ];
    in
    listChecks value [
      (check path (isList value) "${show value} is not a list of service names; write e.g. [ \"postfix\" \"dovecot\" ]")
    ] entryChecks;
}
