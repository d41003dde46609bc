# nixos/lib/systemd-unit-options.nix: systemd.services.<name> (the unit options the modules and
# their tests use), with nixpkgs' merge of serviceConfig values (lists concatenate, single values
# must agree).
{ lib, ... }:
let
  inherit (import ./options.nix { inherit lib; }) mkOption types option listOf attrsOf bool each;

  unitOption = types.mkOptionType {
    name = "systemd option";
    merge =
      loc: defs:
      let
        defs' = lib.filterOverrides defs;
      in
      if lib.any (def: builtins.isList def.value) defs' then
        lib.concatMap (def: lib.toList def.value) defs'
      else
        lib.mergeEqualOption loc defs';
  };

  # The options every unit has (a target has only these), then a service's commands.
  unitOptions = {
    enable = bool true;
    description = option types.singleLineStr "";
    documentation = listOf types.str;
    unitConfig = attrsOf unitOption;
  }
  // each (listOf types.str) [
    "wantedBy"
    "requiredBy"
    "upheldBy"
    "before"
    "after"
    "wants"
    "requires"
    "bindsTo"
    "partOf"
    "conflicts"
  ];
  serviceOptions = {
    options =
      unitOptions
      // {
        overrideStrategy = option (types.enum [
          "asDropinIfExists"
          "asDropin"
        ]) "asDropinIfExists";
        serviceConfig = attrsOf unitOption;
        restartTriggers = listOf types.unspecified;
        reloadTriggers = listOf types.unspecified;
        environment = attrsOf (types.nullOr (types.either types.str types.path));
        path = listOf (types.either types.package types.str);
      }
      // each (option types.lines "") [
        "script"
        "preStart"
        "postStart"
        "preStop"
        "postStop"
      ];
  };
  # nixos/lib/systemd-unit-options.nix: timerOptions (the fields the modules set)
  timerOptions = {
    options = {
      wantedBy = listOf types.str;
      timerConfig = attrsOf (
        types.oneOf [
          types.str
          types.bool
          types.int
        ]
      );
    };
  };
  units =
    description: unitType:
    mkOption {
      type = types.attrsOf (types.submodule unitType);
      default = { };
      inherit description;
    };
in
{
  options.systemd.services = units "systemd services." serviceOptions;
  options.systemd.timers = units "systemd timers." timerOptions;
  options.systemd.targets = units "systemd targets." { options = unitOptions; };
}
