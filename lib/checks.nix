# The shape of a check (a NixOS assertion) and how a list of checks is enforced.
{ ... }:
let
  inherit (builtins) concatStringsSep filter map;
in
rec {
  # One assertion about the option at `path`. `message` says what is wrong and how to fix it; it
  # is only evaluated when the assertion fails, so it may rely on the value being bad.
  check = path: assertion: message: {
    inherit assertion;
    message = "${path}: ${message}";
  };

  # The checks of a list option: `whole`, about the value itself, then `entryChecks index entry`
  # for each entry (none when the value is not a list).
  listChecks =
    value: whole: entryChecks:
    let
      entries = if builtins.isList value then value else [ ];
    in
    whole
    ++ builtins.concatLists (
      builtins.genList (index: entryChecks index (builtins.elemAt entries index)) (builtins.length entries)
    );

  failing = checks: filter (item: !item.assertion) checks;

  failingMessages = checks: map (item: item.message) (failing checks);

  # `value` when every check holds, otherwise a throw naming all failures, one per line.
  enforce =
    checks: value:
    let
      messages = failingMessages checks;
    in
    if messages == [ ] then value else throw (concatStringsSep "\n" messages);

  # A value as it would be written in Nix, for messages. Paths are shown without copying them into
  # the store (which builtins.toJSON would do) and functions cannot be shown at all.
  show =
    value:
    if builtins.isPath value then
      toString value
    else if builtins.isFunction value then
      "a function"
    else
      builtins.toJSON value;
}
