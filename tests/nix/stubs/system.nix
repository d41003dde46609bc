# nixos/modules/misc/version.nix: system.stateVersion (other modules' defaults follow it, e.g.
# services.dovecot2.package), defaulting like nixpkgs to the release of its lib.
{ lib, ... }:
{
  options.system.stateVersion = lib.mkOption {
    type = lib.types.str;
    default = lib.trivial.release;
    description = "The NixOS release whose defaults of stateful services this system keeps.";
  };
}
