# nixos/modules/config/sysctl.nix
{ lib, ... }:
{
  options.boot.kernel.sysctl = lib.mkOption {
    type = lib.types.attrsOf (
      lib.types.nullOr (
        lib.types.oneOf [
          lib.types.bool
          lib.types.str
          lib.types.int
        ]
      )
    );
    default = { };
    description = "Runtime parameters of the Linux kernel (sysctl).";
  };
}
