# What the parts of mail-home share: the options' values, the nixpkgs generation facts, the intent
# given to lib/ and its plan. Not a module: each part calls it with its own module arguments
# (`arguments@{ lib, ... }:`, which holds config and options too).
{
  config,
  lib,
  options,
  ...
}:
let
  inherit (lib) optional optionals unique;
  homeMailLib = import ../../lib;
  cfg = config.homeMail.home;
  unitNames = (import ../helpers/unit-names.nix { inherit lib; }).unitNames lib.trivial.release;
  dovecot = config.services.dovecot2;
  # knot-resolver 5 is services.kresd (kresd@<n>.service); knot-resolver 6 is
  # services.knot-resolver (knot-resolver.service). Both point the host's resolv.conf at 127.0.0.1.
  knotResolver6 = options.services ? knot-resolver && config.services.knot-resolver.enable;
  # The kresd instances, not the template: a start of the namespace unit starts what it names.
  resolverUnits =
    optionals config.services.kresd.enable (
      map (instance: "kresd@${toString instance}") (lib.range 1 config.services.kresd.instances)
    )
    ++ optional knotResolver6 "knot-resolver";

  confinedServices = unique (
    optional config.services.postfix.enable "postfix"
    ++ optional dovecot.enable unitNames.dovecot
    ++ resolverUnits
    ++ map unitNames.acmeOrder cfg.acmeCertificates
    ++ cfg.extraConfinedServices
  );

  intent = {
    inherit (cfg) namespace addresses nameservers;
    wireguard = {
      inherit (cfg.wireguard)
        interface
        mtu
        listenPort
        privateKeyFile
        ;
    };
    gateway = {
      inherit (cfg.gateway)
        endpoint
        publicKey
        presharedKeyFile
        persistentKeepalive
        ;
    };
    openPorts = {
      # HTTP-01 challenges of the ACME orders arrive on port 80 of the public addresses.
      tcp = unique (cfg.openPorts.tcp ++ optional (cfg.acmeCertificates != [ ]) 80);
      inherit (cfg.openPorts) udp;
    };
    services = confinedServices;
    inherit (cfg) dropDuplicateDeliveries;
  };
in
{
  inherit
    homeMailLib
    cfg
    unitNames
    dovecot
    resolverUnits
    confinedServices
    intent
    ;
  root = "homeMail.home";
  # Computed once, by confinement.nix.
  inherit (cfg) plan;
  mailserver = if options ? mailserver then config.mailserver else { enable = false; };
  # nixpkgs' dovecot module takes Dovecot 2.4's settings (its default package from stateVersion
  # 26.05 on) and then asserts that the 2.3-era options sieve.scripts and mailPlugins are unset.
  dovecot24 = options.services.dovecot2 ? package && !lib.versionOlder dovecot.package.version "2.4";
  definitions = import ../helpers/definitions.nix { inherit lib; };
}
