# Assertions of the modules: the "<option path>: <problem>" shape, and that an attribute a module
# manages is defined by no other file.
{ lib }:
let
  definitions = {
    # "<option path>: <problem>" with the option path first, like every check of lib/.
    assertionAbout = path: assertion: message: {
      inherit assertion;
      message = "${path}: ${message}";
    };

    # The files (other than `ownFile`) that define attribute `name` of the attrsOf option
    # `option`, e.g. another module that also defines networking.wireguard.interfaces.wg0. Their
    # values would be merged into ours silently (lists concatenated), so the modules assert there
    # are none.
    otherDefinitionFiles =
      option: ownFile: name:
      map (definition: definition.file) (
        lib.filter (
          definition:
          definition.file != ownFile && builtins.isAttrs definition.value && definition.value ? ${name}
        ) option.definitionsWithLocations
      );

    # The assertion that only `ownFile` defines `<attribute>.<name>` (of option `option`), which
    # the option at `path` manages; `fix` says what to do instead.
    definedOnlyHere =
      {
        option,
        attribute,
        name,
        ownFile,
        path,
        fix,
      }:
      let
        files = definitions.otherDefinitionFiles option ownFile name;
      in
      definitions.assertionAbout path (files == [ ]) "${attribute}.${name} is also defined in ${lib.concatStringsSep ", " (lib.unique files)}; ${fix}";

    # Both ends manage their WireGuard interface alone: `root` is homeMail.gateway or homeMail.home.
    wireguardInterfaceOnlyHere =
      {
        options,
        ownFile,
        root,
        interface,
      }:
      definitions.definedOnlyHere {
        option = options.networking.wireguard.interfaces;
        attribute = "networking.wireguard.interfaces";
        name = interface;
        inherit ownFile;
        path = "${root}.wireguard.interface";
        fix = "${root} manages this interface and the other settings would be merged into it (lists concatenated): choose another ${root}.wireguard.interface or remove the other definition";
      };
  };
in
definitions
