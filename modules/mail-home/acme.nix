# The ACME orders of homeMail.home.acmeCertificates run inside the namespace (confinement.nix
# confines them): lego answers the CA's HTTP-01 request itself on port 80 of the public addresses.
arguments@{ lib, options, ... }:
let
  inherit (import ./context.nix arguments) cfg root definitions;
  ownFile = toString ./acme.nix;
in
{
  _file = ownFile;

  config = lib.mkIf cfg.enable {
    assertions = map (
      certificate:
      definitions.assertionAbout "${root}.acmeCertificates" (
        definitions.otherDefinitionFiles options.security.acme.certs ownFile certificate != [ ]
      ) "\"${certificate}\" is not a certificate of security.acme.certs; define security.acme.certs.\"${certificate}\" or remove it here"
    ) cfg.acmeCertificates;

    security.acme.certs = lib.genAttrs cfg.acmeCertificates (_: {
      # lego answers the challenge itself inside the namespace.
      listenHTTP = lib.mkDefault ":80";
      webroot = lib.mkDefault null;
    });
  };
}
