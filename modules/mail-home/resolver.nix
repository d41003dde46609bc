# The resolver: knot-resolver runs in the namespace (confinement.nix confines it), so the host
# must not point its own resolv.conf at it.
arguments@{ lib, ... }:
let
  inherit (import ./context.nix arguments)
    homeMailLib
    cfg
    root
    resolverUnits
    ;
  loopbackNameservers = lib.filter (
    server:
    let
      parsed = homeMailLib.ip.parseAddress server;
    in
    parsed.valid && homeMailLib.ip.kind parsed == "loopback"
  ) cfg.nameservers;
in
{
  _file = toString ./resolver.nix;

  config = lib.mkIf cfg.enable (
    lib.mkMerge [
      {
        warnings = lib.optional (loopbackNameservers != [ ] && resolverUnits == [ ]) "${root}.nameservers: ${lib.concatStringsSep ", " loopbackNameservers} is the namespace's own loopback, but neither services.kresd nor services.knot-resolver is enabled, so no resolver is known to run there; enable one (simple-nixos-mailserver's mailserver.localDnsResolver does), confine your own resolver with ${root}.extraConfinedServices, or list a resolver reachable through the tunnel";
      }

      # knot-resolver sets useLocalResolver = mkDefault true, which points the host's resolv.conf
      # at 127.0.0.1; but the resolver now listens in the namespace, so the host (rspamd, nix,
      # everything else) would have no resolver. 900 beats that mkDefault (1000) and still loses
      # to a plain definition.
      (lib.mkIf (resolverUnits != [ ]) {
        networking.resolvconf.useLocalResolver = lib.mkOverride 900 false;
      })
    ]
  );
}
