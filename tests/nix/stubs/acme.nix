# nixos/modules/security/acme/default.nix (the options the modules and hosts touch): every
# certificate inherits its settings from security.acme.defaults, and nixpkgs' assertions: the
# terms accepted, an email for the account, exactly one way to answer the challenge.
{ lib, config, ... }:
let
  inherit (import ./options.nix { inherit lib; }) mkOption types option bool;
  cfg = config.security.acme;

  # The options of `defaults` and of each certificate; a certificate's default is the value in
  # `defaults`.
  sharedOptions =
    inherited:
    let
      shared = name: type: default: option type (if inherited then cfg.defaults.${name} else default);
    in
    {
      email = shared "email" (types.nullOr types.str) null;
      server = shared "server" (types.nullOr types.str) "https://acme-v02.api.letsencrypt.org/directory";
      listenHTTP = shared "listenHTTP" (types.nullOr types.str) null;
      webroot = shared "webroot" (types.nullOr types.str) null;
      dnsProvider = shared "dnsProvider" (types.nullOr types.str) null;
      s3Bucket = shared "s3Bucket" (types.nullOr types.str) null;
      group = shared "group" types.str "acme";
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
    acceptTerms = bool false;
    defaults = sharedOptions false;
    certs = mkOption {
      type = types.attrsOf (
        types.submodule (
          { name, ... }:
          {
            options = sharedOptions true // {
              domain = option types.str name;
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
