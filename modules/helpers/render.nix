# Plans into NixOS settings: the programs the plans' commands name, and the WireGuard interface.
{ lib }:
let
  homeMailLib = import ../../lib;
in
rec {
  # The programs the plans' commands name (lib/confine.nix, the gateway's units), as store paths
  # for lib.renderCommand / lib.renderUnit.
  programsOf = pkgs: {
    ip = lib.getExe' pkgs.iproute2 "ip";
    nsenter = lib.getExe' pkgs.util-linux "nsenter";
    sysctl = lib.getExe' pkgs.procps "sysctl";
    nft = lib.getExe' pkgs.nftables "nft";
    sh = lib.getExe' pkgs.bash "sh";
  };

  # One command of a plan (an argument list with a bare program name) as a shell line, the program
  # by its store path: service scripts and hooks have no `sh` on PATH.
  shellLine =
    programs: command: lib.escapeShellArgs ([ programs.${builtins.head command} ] ++ builtins.tail command);

  # networking.wireguard.interfaces.<if> from a plan's `wireguard` (both ends; each adds its
  # hooks: home its preSetup, the gateway its postSetup).
  wireguardInterface = wireguard: {
    inherit (wireguard)
      ips
      listenPort
      mtu
      privateKeyFile
      interfaceNamespace
      socketNamespace
      allowedIPsAsRoutes
      table
      peers
      ;
  };

  # The units of a plan (plan.units, plan.proxyNdp.units) as systemd.services, for both roles.
  # A unit whose ExecStart/ExecStop are `sh -c` scripts (the gateway's endpoint memory: they hold
  # `$`, which systemd would expand in an Exec line) gets them as script/preStop, with
  # the packages its `path` names on its PATH; every other unit gets Exec lines (lib.renderUnit).
  # A plan's `path` names packages by attribute name: here they become pkgs' packages.
  planUnits =
    pkgs: units:
    let
      programs = programsOf pkgs;
      packagesOf = unit: lib.optionalAttrs (unit ? path) { path = map (name: pkgs.${name}) unit.path; };
      lines = lib.concatMapStringsSep "\n" (shellLine programs);
      isScript = command: builtins.head command == "sh";
      scripted =
        service:
        lib.any (key: service ? ${key} && lib.all isScript service.${key}) [
          "ExecStart"
          "ExecStop"
        ];
      asScripts =
        unit:
        let
          service = unit.serviceConfig;
        in
        removeAttrs unit [ "serviceConfig" ]
        // packagesOf unit
        // {
          serviceConfig = removeAttrs service [
            "ExecStart"
            "ExecStop"
          ];
        }
        // lib.optionalAttrs (service ? ExecStart) { script = lines service.ExecStart; }
        // lib.optionalAttrs (service ? ExecStop) { preStop = lines service.ExecStop; };
    in
    lib.mapAttrs (
      _: unit:
      if scripted (unit.serviceConfig or { }) then
        asScripts unit
      else
        homeMailLib.renderUnit programs unit // packagesOf unit
    ) units;
}
