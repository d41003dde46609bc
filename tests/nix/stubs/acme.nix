# nixos/modules/security/acme/default.nix (the certificate options the modules touch)
{ lib, ... }:
let
  inherit (lib) mkOption types;
in
{
  options.security.acme.certs = mkOption {
    type = types.attrsOf (
      types.submodule (
        { name, ... }:
        {
          options = {
            domain = mkOption {
              type = types.str;
              default = name;
            };
            email = mkOption {
              type = types.nullOr types.str;
              default = null;
            };
            listenHTTP = mkOption {
              type = types.nullOr types.str;
              default = null;
            };
            webroot = mkOption {
              type = types.nullOr types.str;
              default = null;
            };
            group = mkOption {
              type = types.str;
              default = "acme";
            };
          };
        }
      )
    );
    default = { };
    description = "ACME certificates.";
  };
}
