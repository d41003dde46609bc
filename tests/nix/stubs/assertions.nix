# nixos/modules/misc/assertions.nix
{ lib, ... }:
{
  options = {
    assertions = lib.mkOption {
      type = lib.types.listOf lib.types.unspecified;
      default = [ ];
      description = "Assertions; each { assertion : bool; message : str; }.";
    };
    warnings = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      description = "Warnings printed when the system is built.";
    };
  };
}
