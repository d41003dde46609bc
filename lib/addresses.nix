# Lists of forwarded (public, single-host) addresses: their normalized form for the plans and the
# checks that the lists are well formed. Used for homeMail.home.addresses and
# homeMail.gateway.homes.<name>.addresses alike.
{ lib }:
let
  inherit (lib) util ip;
  inherit (lib.checks) check show listChecks;
  inherit (builtins) elemAt filter isList;

  parseEntries = value: map ip.parseCidr (if isList value then value else [ ]);

  # A parsed entry the plan can use: an address with no prefix or a single-host prefix.
  isUsable =
    parsed:
    parsed.valid && (parsed.prefixLength == null || parsed.prefixLength == ip.hostPrefixLength parsed.family);
in
rec {
  # { ipv4 = [ "198.51.100.11" ]; ipv6 = [ "2001:db8:1::11" ]; cidrs = [ "198.51.100.11/32" ... ]; }
  # Normalized, without repeats, in the order given. Entries that are not single addresses are
  # left out: the plan never throws, the checks report them.
  hostAddresses =
    value:
    let
      usable = filter isUsable (parseEntries value);
      addresses = util.unique (map (parsed: { inherit (parsed) family address; }) usable);
      ofFamily = family: map (entry: entry.address) (filter (entry: entry.family == family) addresses);
    in
    {
      ipv4 = ofFamily 4;
      ipv6 = ofFamily 6;
      cidrs = map (entry: "${entry.address}/${toString (ip.hostPrefixLength entry.family)}") addresses;
    };

  # Normalized addresses of a list of "address/prefix" entries, skipping malformed ones.
  normalizedAddresses = value: map (parsed: parsed.address) (filter (parsed: parsed.valid) (parseEntries value));

  hostAddressListChecks =
    path: value:
    let
      entries = if isList value then value else [ ];
      parsed = parseEntries value;
      keys = map (entry: if entry.valid then entry.address else null) parsed;
      example = ''[ "198.51.100.11/32" "2001:db8:1::11/128" ]'';
      entryChecks =
        index: entry:
        let
          result = elemAt parsed index;
          hostPrefix = toString (ip.hostPrefixLength result.family);
          firstIndex = builtins.head (filter (earlier: elemAt keys earlier == elemAt keys index) (util.indices keys));
        in
        [
          (check path result.valid "${show entry} ${result.error or ""}; write one address with its single-host prefix, e.g. ${example}")
          (check path (
            !result.valid || result.prefixLength != null
          ) "${show entry} has no prefix length; write \"${result.address or ""}/${hostPrefix}\"")
          (check path (
            !result.valid || result.prefixLength == null || result.prefixLength == ip.hostPrefixLength result.family
          ) "${show entry} is not a single address: forward each address on its own as IPv${
            toString (result.family or 4)
          } /${hostPrefix}, i.e. \"${result.address or ""}/${hostPrefix}\"")
          (check path (
            !result.valid || ip.kind result == "unicast"
          ) "${show entry} is a ${ip.kind result} address; forward public unicast addresses only")
          (check path (
            elemAt keys index == null || firstIndex == index
          ) "${show entry} is the same address as ${show (elemAt entries firstIndex)} (${
            elemAt keys index
          }); list it once")
        ];
    in
    listChecks value [
      (check path (util.isStringList value) "${show value} is not a list of addresses; write e.g. ${example}")
      (check path (
        !isList value || value != [ ]
      ) "is empty; list the public addresses to forward, each as a single address, e.g. ${example}")
    ] entryChecks;

  # Checks that every entry of a list is "address/prefix" (any prefix), e.g. the gateway's uplink.
  cidrListChecks =
    { example }:
    path: value:
    let
      entryChecks =
        _: entry:
        let
          result = ip.parseCidr entry;
        in
        [
          (check path result.valid "${show entry} ${result.error or ""}; write the address with its prefix length, e.g. \"${example}\"")
          (check path (
            !result.valid || result.prefixLength != null
          ) "${show entry} has no prefix length; write the address with the prefix of its subnet, e.g. \"${result.address or ""}/${
            if (result.family or 4) == 4 then "24" else "64"
          }\"")
        ];
    in
    listChecks value [
      (check path (util.isStringList value) "${show value} is not a list of addresses; write e.g. [ \"${example}\" ]")
    ] entryChecks;
}
