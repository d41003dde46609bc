# The options of a file given by its text or by a source path, which nixpkgs' environment.etc.<name>
# and services.rspamd.locals.<name> share. Not a module: environment.nix and services.nix use it.
{ lib }:
let
  inherit (lib) mkOption types;
in
{
  enable = mkOption {
    type = types.bool;
    default = true;
  };
  text = mkOption {
    type = types.nullOr types.lines;
    default = null;
  };
  source = mkOption {
    type = types.nullOr types.path;
    default = null;
  };
}
