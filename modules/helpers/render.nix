# Plans into NixOS settings: the programs the plans' commands name, and the WireGuard interface.
{ lib }:
{
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
}
