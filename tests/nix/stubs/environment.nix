# nixos/modules/system/etc/etc.nix and config/system-path.nix (environment.systemPackages)
{ lib, ... }:
let
  inherit (import ./options.nix { inherit lib; }) mkOption types option file;
in
{
  options.environment.systemPackages = mkOption {
    type = types.listOf types.raw;
    default = [ ];
    description = "Packages in the system profile.";
  };

  options.environment.etc = mkOption {
    type = types.attrsOf (
      types.submodule (
        { name, ... }:
        {
          options = file // {
            target = option types.str name;
            mode = option types.str "symlink";
          };
        }
      )
    );
    default = { };
    description = "Files in /etc.";
  };
}
