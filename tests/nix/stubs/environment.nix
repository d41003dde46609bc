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
          options = {
            enable = mkOption {
              type = types.bool;
              default = true;
            };
            target = mkOption {
              type = types.str;
              default = name;
            };
            text = mkOption {
              type = types.nullOr types.lines;
              default = null;
            };
            source = mkOption {
              type = types.nullOr types.path;
              default = null;
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
