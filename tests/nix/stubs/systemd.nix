# nixos/lib/systemd-unit-options.nix: systemd.services.<name> (the unit options the modules and
# their tests use), with nixpkgs' merge of serviceConfig values (lists concatenate, single values
# must agree).
{ lib, ... }:
let
  inherit (lib) mkOption types;

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

  unitNames = mkOption {
    type = types.listOf types.str;
    default = [ ];
  };
  script = mkOption {
    type = types.lines;
    default = "";
  };

  serviceOptions = {
    options = {
      enable = mkOption {
        type = types.bool;
        default = true;
      };
      description = mkOption {
        type = types.singleLineStr;
        default = "";
      };
      documentation = mkOption {
        type = types.listOf types.str;
        default = [ ];
      };
      wantedBy = unitNames;
      requiredBy = unitNames;
      upheldBy = unitNames;
      before = unitNames;
      after = unitNames;
      wants = unitNames;
      requires = unitNames;
      bindsTo = unitNames;
      partOf = unitNames;
      conflicts = unitNames;
      overrideStrategy = mkOption {
        type = types.enum [
          "asDropinIfExists"
          "asDropin"
        ];
        default = "asDropinIfExists";
      };
      unitConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
      serviceConfig = mkOption {
        type = types.attrsOf unitOption;
        default = { };
      };
      restartTriggers = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      reloadTriggers = mkOption {
        type = types.listOf types.unspecified;
        default = [ ];
      };
      environment = mkOption {
        type = types.attrsOf (types.nullOr (types.either types.str types.path));
        default = { };
      };
      path = mkOption {
        type = types.listOf (types.either types.package types.str);
        default = [ ];
      };
      script = script;
      preStart = script;
      postStart = script;
      preStop = script;
      postStop = script;
    };
  };
  # Targets have the unit options of a service, without its commands.
  targetOptions = {
    options = {
      inherit (serviceOptions.options)
        enable
        description
        documentation
        wantedBy
        requiredBy
        upheldBy
        before
        after
        wants
        requires
        bindsTo
        partOf
        conflicts
        unitConfig
        ;
    };
  };
in
{
  options.systemd.services = mkOption {
    type = types.attrsOf (types.submodule serviceOptions);
    default = { };
    description = "systemd services.";
  };
  # nixos/lib/systemd-unit-options.nix: timerOptions (the fields the modules set)
  options.systemd.timers = mkOption {
    type = types.attrsOf (
      types.submodule {
        options.wantedBy = mkOption {
          type = types.listOf types.str;
          default = [ ];
        };
        options.timerConfig = mkOption {
          type = types.attrsOf (types.oneOf [ types.str types.bool types.int ]);
          default = { };
        };
      }
    );
    default = { };
    description = "systemd timers.";
  };
  options.systemd.targets = mkOption {
    type = types.attrsOf (types.submodule targetOptions);
    default = { };
    description = "systemd targets.";
  };
}
