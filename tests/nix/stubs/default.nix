# Stand-ins for the NixOS option declarations the modules of this flake set or read, with the
# types, defaults and assertions of nixpkgs' own modules (nixos-26.05), so `lib.evalModules` can
# evaluate the modules without nixpkgs itself (tests/nix/test_stubs.py: they refuse what nixpkgs
# refuses). Declarations and assertions, plus the one nixpkgs behaviour the modules react to
# (knot-resolver's mkDefault on networking.resolvconf.useLocalResolver, in services.nix).
[
  ./assertions.nix
  ./boot.nix
  ./environment.nix
  ./networking.nix
  ./wireguard.nix
  ./systemd.nix
  ./services.nix
  ./dovecot.nix
  ./system.nix
  ./acme.nix
  ./arguments.nix
]
