# nixos/modules/system/etc/etc.nix
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.environment.etc = mkOption {
    type = types.attrsOf (
      types.submodule (
        { name, ... }:
        {
          options = import ./file-options.nix { inherit lib; } // {
            target = mkOption {
              type = types.str;
              default = name;
            };
            mode = mkOption {
              type = types.str;
              default = "symlink";
            };
          };
        }
      )
    );
    default = { };
    description = "Files in /etc.";
  };
}
