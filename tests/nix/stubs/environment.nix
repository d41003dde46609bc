# nixos/modules/system/etc/etc.nix and config/system-path.nix (environment.systemPackages)
{ lib, ... }:
let
  inherit (lib) mkOption types;
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
