# nixos/modules/security/acme/default.nix (the options the modules and hosts touch): every
# certificate inherits its settings from security.acme.defaults, and nixpkgs' assertions: the
# terms accepted, an email for the account, exactly one way to answer the challenge.
{ lib, config, ... }:
let
  inherit (lib) mkOption types;
  cfg = config.security.acme;

  # The options of `defaults` and of each certificate; a certificate's default is the value in
  # `defaults`.
  sharedOptions =
    inherited:
    let
      option =
        name: type: default:
        mkOption {
          inherit type;
          default = if inherited then cfg.defaults.${name} else default;
        };
    in
    {
      email = option "email" (types.nullOr types.str) null;
      server = option "server" (types.nullOr types.str) "https://acme-v02.api.letsencrypt.org/directory";
      listenHTTP = option "listenHTTP" (types.nullOr types.str) null;
      webroot = option "webroot" (types.nullOr types.str) null;
      dnsProvider = option "dnsProvider" (types.nullOr types.str) null;
      s3Bucket = option "s3Bucket" (types.nullOr types.str) null;
      group = option "group" types.str "acme";
    };
  challenges = certificate: {
    inherit (certificate)
      dnsProvider
      webroot
      listenHTTP
      s3Bucket
      ;
  };
in
{
  options.security.acme = {
    acceptTerms = mkOption {
      type = types.bool;
      default = false;
    };
    defaults = sharedOptions false;
    certs = mkOption {
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = sharedOptions true // {
              domain = mkOption {
                type = types.str;
                default = name;
              };
            };
          }
        )
      );
      default = { };
      description = "ACME certificates.";
    };
  };

  config.assertions = lib.mkIf (cfg.certs != { }) (
    [
      {
        assertion = cfg.defaults.email != null || lib.all (certificate: certificate.email != null) (lib.attrValues cfg.certs);
        message = "security.acme: set security.acme.certs.<name>.email or security.acme.defaults.email to register with the CA.";
      }
      {
        assertion = cfg.acceptTerms;
        message = "security.acme.acceptTerms: accept the CA's terms of service (set it to true) to use the ACME module.";
      }
    ]
    ++ lib.mapAttrsToList (name: certificate: {
      assertion = lib.length (lib.filter (value: value != null) (lib.attrValues (challenges certificate))) == 1;
      message = "security.acme.certs.${name}: exactly one of dnsProvider, webroot, listenHTTP and s3Bucket is required; now ${builtins.toJSON (challenges certificate)}.";
    }) cfg.certs
  );
}
