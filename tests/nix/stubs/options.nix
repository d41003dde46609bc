# How the stand-ins declare options (not a module): most of the nixpkgs options they mirror are a
# type and a default and nothing else the modules or tests read, so each is one call here.
{ lib }:
let
  inherit (lib) mkOption types;
in
rec {
  inherit mkOption types;

  # An option of `type` that is `default` unless set.
  option = type: default: mkOption { inherit type default; };

  # An option of `type` that is null unless set.
  nullOr = type: option (types.nullOr type) null;

  # A list of `type`, empty unless set.
  listOf = type: option (types.listOf type) [ ];

  # An attribute set of `type`, empty unless set.
  attrsOf = type: option (types.attrsOf type) { };

  # A boolean, `default` unless set.
  bool = option types.bool;

  # Options `names`, each declared by `declare`.
  each = declare: names: lib.genAttrs names (_: declare);

  # The options of a file given by its text or by a source path, which nixpkgs'
  # environment.etc.<name> and services.rspamd.locals.<name> share.
  file = {
    enable = bool true;
    text = nullOr types.lines;
    source = nullOr types.path;
  };
}
