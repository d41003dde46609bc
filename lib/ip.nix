# IP address parsing, normalization and classification, with Nix builtins only.
#
# Every parser returns a record instead of throwing, so plans stay lazy and checks can explain
# what is wrong:
#   { valid = true;  family = 4 | 6; parts = [ ints ]; address = "<normalized>"; ... }
#   { valid = false; error = "<why, without the option path>"; }
# IPv6 text is normalized to RFC 5952 (lower case, no leading zeros, the longest run of two or
# more zero groups written as "::"), so 2001:0DB8:1:0::11 and 2001:db8:1::11 compare equal.
{ lib }:
let
  inherit (lib) util;
  inherit (builtins)
    all
    concatStringsSep
    elemAt
    filter
    genList
    head
    isString
    length
    match
    ;

  invalid = error: {
    valid = false;
    inherit error;
  };

  last = list: elemAt list (length list - 1);
  withoutLast = list: genList (elemAt list) (length list - 1);

  # --- IPv4 -----------------------------------------------------------------------------------

  parseOctet =
    digits:
    if builtins.stringLength digits > 1 && util.hasPrefix "0" digits then
      invalid "has octet ${digits} with a leading zero, which some tools read as octal; write ${util.stripLeadingZeros digits}"
    else if builtins.stringLength digits > 3 || util.decimalToInt digits > 255 then
      invalid "has octet ${digits}, which is larger than 255"
    else
      {
        valid = true;
        value = util.decimalToInt digits;
      };

  /**
    Parses dotted-quad IPv4 text.

    # Type

    ```
    parseIPv4 :: String -> Parsed
    ```
  */
  parseIPv4 =
    text:
    let
      octetTexts = match "([0-9]+)\\.([0-9]+)\\.([0-9]+)\\.([0-9]+)" text;
      octets = map parseOctet octetTexts;
      bad = filter (octet: !octet.valid) octets;
      values = map (octet: octet.value) octets;
    in
    if octetTexts == null then
      invalid "is not an IPv4 address (four decimal numbers 0-255 separated by dots)"
    else if bad != [ ] then
      invalid (head bad).error
    else
      {
        valid = true;
        family = 4;
        parts = values;
        address = formatIPv4 values;
      };

  /**
    Dotted-quad text of four octets.

    # Type

    ```
    formatIPv4 :: [Int] -> String
    ```
  */
  formatIPv4 = octets: concatStringsSep "." (map toString octets);

  # --- IPv6 -----------------------------------------------------------------------------------

  hexGroupPattern = "[0-9a-fA-F]{1,4}";

  /**
    Parses IPv6 text (`::`, hex groups, an embedded IPv4 tail).

    # Type

    ```
    parseIPv6 :: String -> Parsed
    ```
  */
  parseIPv6 =
    text:
    let
      halves = util.splitOn "::" text;
      compressions = length halves - 1;
      groupTexts = half: if half == "" then [ ] else util.splitOn ":" half;
      leftTexts = groupTexts (head halves);
      rightTexts = if compressions == 1 then groupTexts (elemAt halves 1) else [ ];
      allTexts = leftTexts ++ rightTexts;
      # An embedded IPv4 address (::ffff:192.0.2.1) may only be the very last 32 bits.
      hasIPv4Tail =
        allTexts != [ ]
        && match ".*\\..*" (last allTexts) != null
        && (compressions == 0 || rightTexts != [ ]);
      ipv4Tail = parseIPv4 (last allTexts);
      hexTexts = if hasIPv4Tail then withoutLast allTexts else allTexts;
      badHex = filter (group: match hexGroupPattern group == null) hexTexts;
      explicitGroups = length hexTexts + (if hasIPv4Tail then 2 else 0);
      toGroups = texts: map util.hexToInt texts;
      tailGroups =
        if hasIPv4Tail then
          [
            (elemAt ipv4Tail.parts 0 * 256 + elemAt ipv4Tail.parts 1)
            (elemAt ipv4Tail.parts 2 * 256 + elemAt ipv4Tail.parts 3)
          ]
        else
          [ ];
      rightHexCount = length rightTexts - (if hasIPv4Tail then 1 else 0);
      groups =
        if compressions == 0 then
          toGroups hexTexts ++ tailGroups
        else
          toGroups leftTexts
          ++ genList (_: 0) (8 - explicitGroups)
          ++ toGroups (genList (elemAt rightTexts) rightHexCount)
          ++ tailGroups;
    in
    if match ".*%.*" text != null then
      invalid "has a zone index (%...); write the address without it"
    else if compressions > 1 then
      invalid "contains \"::\" more than once (it may stand for only one run of zero groups)"
    else if badHex != [ ] then
      invalid (
        if head badHex == "" then
          "has an empty group (a single \":\" at the start or end, or \":::\")"
        else
          "has \"${head badHex}\", which is not a group of 1 to 4 hexadecimal digits"
      )
    else if hasIPv4Tail && !ipv4Tail.valid then
      invalid "ends in the IPv4 part \"${last allTexts}\", which ${ipv4Tail.error}"
    else if compressions == 0 && explicitGroups != 8 then
      invalid "has ${toString explicitGroups} groups; an IPv6 address has 8, or \"::\" for a run of zero groups"
    else if compressions == 1 && explicitGroups > 7 then
      invalid "has ${toString explicitGroups} groups besides \"::\"; with \"::\" there are at most 7"
    else
      {
        valid = true;
        family = 6;
        parts = groups;
        address = formatIPv6 groups;
      };

  /**
    RFC 5952 text of eight groups (lower case, the longest run of two or more zero groups as `::`).

    # Type

    ```
    formatIPv6 :: [Int] -> String
    ```
  */
  formatIPv6 =
    groups:
    let
      isZero = index: elemAt groups index == 0;
      runLength =
        start: if start < 8 && isZero start then 1 + runLength (start + 1) else 0;
      starts = filter (index: isZero index && (index == 0 || !isZero (index - 1))) (genList (i: i) 8);
      longest = builtins.foldl' (
        best: start:
        let
          size = runLength start;
        in
        if size > best.size then { inherit start size; } else best
      ) {
        start = null;
        size = 1;
      } starts;
      hex = indices: concatStringsSep ":" (map (index: util.intToHex (elemAt groups index)) indices);
      range = from: to: genList (offset: from + offset) (to - from);
    in
    if longest.start == null then
      hex (range 0 8)
    else
      hex (range 0 longest.start) + "::" + hex (range (longest.start + longest.size) 8);

  # --- both families ----------------------------------------------------------------------------

  /**
    Parses an address of either family, without a prefix length.

    # Type

    ```
    parseAddress :: String -> Parsed
    Parsed = { valid = true; family :: 4 | 6; parts :: [Int]; address :: String; } | { valid = false; error :: String; }
    ```
  */
  parseAddress =
    text:
    if !isString text then
      invalid "is not a string"
    else if text == "" then
      invalid "is empty"
    else if match ".*:.*" text != null then
      parseIPv6 text
    else if match "[0-9.]*" text != null then
      parseIPv4 text
    else
      invalid "is not an IP address";

  /**
    Parses `address` or `address/prefix`; `prefixLength` is null when no prefix is written.

    # Type

    ```
    parseCidr :: String -> Parsed // { prefixLength :: Int | null; cidr :: String | null; }
    ```
  */
  parseCidr =
    text:
    let
      split = if isString text then match "([^/]*)/(.*)" text else null;
      addressText = if split == null then text else head split;
      prefixText = if split == null then null else elemAt split 1;
      parsed = parseAddress addressText;
      maxPrefix = hostPrefixLength parsed.family;
      prefixValid = prefixText != null && match "0|[1-9][0-9]{0,2}" prefixText != null;
      prefixLength = if prefixText == null then null else util.decimalToInt prefixText;
    in
    if !parsed.valid then
      parsed
    else if prefixText != null && !prefixValid then
      invalid "has \"/${prefixText}\", which is not a prefix length (a number 0-${toString maxPrefix})"
    else if prefixLength != null && prefixLength > maxPrefix then
      invalid "has prefix length /${prefixText}; an IPv${toString parsed.family} prefix is at most /${toString maxPrefix}"
    else
      parsed
      // {
        inherit prefixLength;
        cidr = if prefixLength == null then null else "${parsed.address}/${toString prefixLength}";
      };

  /**
    The prefix length of a single address of the family.

    # Type

    ```
    hostPrefixLength :: 4 | 6 -> 32 | 128
    ```
  */
  hostPrefixLength = family: if family == 4 then 32 else 128;

  /**
    What kind of address a valid parse is; only "unicast" may be forwarded or used as an endpoint.

    # Type

    ```
    kind :: Parsed -> "unicast" | "loopback" | "multicast" | "link-local" | ...
    ```
  */
  kind =
    parsed:
    let
      p = parsed.parts;
      at = elemAt p;
    in
    if parsed.family == 4 then
      if at 0 == 0 then
        "\"this network\" (0.0.0.0/8)"
      else if at 0 == 127 then
        "loopback"
      else if at 0 == 169 && at 1 == 254 then
        "link-local"
      else if at 0 >= 224 && at 0 < 240 then
        "multicast"
      else if at 0 >= 240 then
        "reserved or broadcast"
      else
        "unicast"
    else if all (group: group == 0) p then
      "unspecified (::)"
    else if all (group: group == 0) (genList at 7) && at 7 == 1 then
      "loopback"
    else if at 0 >= 65280 then
      "multicast"
    else if at 0 >= 65152 && at 0 < 65216 then
      "link-local"
    else if all (group: group == 0) (genList at 5) && at 5 == 65535 then
      "IPv4-mapped"
    else
      "unicast";

  /**
    Normalized text of an address, or null when the text is not one.

    # Type

    ```
    normalizeAddress :: String -> String | null
    ```
  */
  normalizeAddress =
    text:
    let
      parsed = parseAddress text;
    in
    if parsed.valid then parsed.address else null;

  /**
    Normalized text of an address or CIDR, or null when the text is neither.

    # Type

    ```
    normalizeCidr :: String -> String | null
    ```
  */
  normalizeCidr =
    text:
    let
      parsed = parseCidr text;
    in
    if !parsed.valid then
      null
    else if parsed.prefixLength == null then
      parsed.address
    else
      parsed.cidr;
in
{
  inherit
    parseIPv4
    parseIPv6
    parseAddress
    parseCidr
    formatIPv4
    formatIPv6
    hostPrefixLength
    kind
    normalizeAddress
    normalizeCidr
    ;

  /**
    Whether the text is an address of either family.

    # Type

    ```
    isAddress :: String -> Bool
    ```
  */
  isAddress = text: (parseAddress text).valid;
  /**
    Whether the text is an IPv4 address.

    # Type

    ```
    isIPv4 :: String -> Bool
    ```
  */
  isIPv4 = text: (parseAddress text).valid && (parseAddress text).family == 4;
  /**
    Whether the text is an IPv6 address.

    # Type

    ```
    isIPv6 :: String -> Bool
    ```
  */
  isIPv6 = text: (parseAddress text).valid && (parseAddress text).family == 6;
}
