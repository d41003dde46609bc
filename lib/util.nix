# Small list and string helpers built from Nix builtins only, so the core needs no nixpkgs.
{ ... }:
let
  inherit (builtins)
    all
    elem
    elemAt
    filter
    foldl'
    genList
    length
    stringLength
    substring
    ;
in
rec {
  # The indices of a list: [ 0 1 ... ].
  indices = list: genList (index: index) (length list);

  # The characters of a string, as one-character strings.
  characters = text: genList (index: substring index 1 text) (stringLength text);

  hasPrefix = prefix: text: substring 0 (stringLength prefix) text == prefix;

  hasSuffix =
    suffix: text:
    let
      textLength = stringLength text;
      suffixLength = stringLength suffix;
    in
    textLength >= suffixLength && substring (textLength - suffixLength) suffixLength text == suffix;

  # The list without repeated elements, keeping the first occurrence of each.
  unique = foldl' (kept: item: if elem item kept then kept else kept ++ [ item ]) [ ];

  # The elements that occur more than once, each named once.
  duplicates =
    items:
    unique (
      filter (item: length (filter (other: other == item) items) > 1) items
    );

  isStringList = value: builtins.isList value && all builtins.isString value;

  # The parts of `text` between the separator (a regular expression), like lib.splitString.
  splitOn = separator: text: filter builtins.isString (builtins.split separator text);

  # `[ a b c ]` -> `"a", "b" and "c"` for messages.
  quotedList =
    items:
    let
      quoted = map builtins.toJSON items;
      count = length quoted;
    in
    if count == 0 then
      "nothing"
    else if count == 1 then
      elemAt quoted 0
    else
      builtins.concatStringsSep ", " (genList (index: elemAt quoted index) (count - 1))
      + " and "
      + elemAt quoted (count - 1);

  # A name as part of a systemd unit name, the way systemd-escape (and NixOS'
  # utils.escapeSystemdPath) writes it, for the characters an interface name may hold: "-" becomes
  # \x2d, and a leading "." \x2e.
  systemdEscape =
    name:
    let
      escaped = builtins.replaceStrings [ "-" ] [ "\\x2d" ] name;
    in
    if hasPrefix "." escaped then "\\x2e" + substring 1 (stringLength escaped) escaped else escaped;

  # The option value at `names` below an intent, null when missing or not reachable.
  lookup = intent: names: attrByPath names null intent;

  # Attribute set lookup by a path of names, `default` when any step is missing or not a set.
  attrByPath =
    names: default: set:
    if names == [ ] then
      set
    else if builtins.isAttrs set && builtins.hasAttr (builtins.head names) set then
      attrByPath (builtins.tail names) default set.${builtins.head names}
    else
      default;

  # `base` with `overlay` merged into it recursively (attribute sets merge, other values replace).
  recursiveUpdate =
    base: overlay:
    base
    // builtins.mapAttrs (
      name: value:
      if builtins.isAttrs value && builtins.isAttrs (base.${name} or null) then
        recursiveUpdate base.${name} value
      else
        value
    ) overlay;

  # Integer from a string of decimal digits the caller has already matched.
  decimalToInt = digits: builtins.fromJSON (stripLeadingZeros digits);

  stripLeadingZeros =
    digits:
    let
      match = builtins.match "0*([0-9]+)" digits;
    in
    if match == null then digits else builtins.head match;

  # Integer from a string of hexadecimal digits the caller has already matched.
  hexToInt = digits: foldl' (value: digit: value * 16 + hexDigitValues.${digit}) 0 (characters digits);

  hexDigitValues = builtins.listToAttrs (
    genList (index: {
      name = substring index 1 "0123456789abcdef";
      value = index;
    }) 16
    ++ genList (index: {
      name = substring index 1 "ABCDEF";
      value = index + 10;
    }) 6
  );

  # Lower-case hexadecimal without leading zeros (0 -> "0").
  intToHex =
    value:
    let
      digit = substring (value - value / 16 * 16) 1 "0123456789abcdef";
    in
    if value < 16 then digit else intToHex (value / 16) + digit;
}
