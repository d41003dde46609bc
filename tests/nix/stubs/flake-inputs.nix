# Stand-in inputs for the flake's `outputs` function: a nixpkgs whose `lib` is nixpkgs' real lib
# (<nixpkgs/lib>), whose `nixosSystem` evaluates the host against the stand-in options of this
# directory, and whose packages are fake derivations that record their arguments (runNixOSTest,
# buildPythonApplication, mkShell), plus a simple-nixos-mailserver whose module is ./mailserver.nix.
let
  lib = import <nixpkgs/lib>;
  systems = [
    "x86_64-linux"
    "aarch64-linux"
  ];

  fake =
    name: extra:
    {
      type = "derivation";
      inherit name;
      outPath = "/nix/store/00000000000000000000000000000000-${name}";
    }
    // extra;

  packageNames = [
    "iproute2"
    "util-linux"
    "procps"
    "bash"
    "nftables"
    "wireguard-go"
    "wireguard-tools"
    "postfix"
    "dovecot_2_3"
    "rspamd"
    "redis"
    "knot-resolver_5"
    "knot-dns"
    "openssl"
    "curl"
    "pebble"
    "lego"
    "nixfmt"
    "nixfmt-tree"
    "ruff"
  ];
  # Build back ends and libraries a pyproject.toml of the lab may name.
  pythonPackageNames = [
    "setuptools"
    "wheel"
    "hatchling"
    "flit-core"
    "pdm-backend"
    "poetry-core"
    "pyroute2"
    "ptpython"
    "dnspython"
    "cryptography"
    "pyyaml"
    "jinja2"
    "typing-extensions"
    "pytest"
    "pytest-timeout"
    "mypy"
    "pyflakes"
  ];

  packagesFor =
    system:
    lib.genAttrs packageNames (name: fake name { })
    // {
      inherit lib;
      stdenv.hostPlatform.system = system;
      testers.runNixOSTest = arguments: fake "nixos-test-${arguments.name}" { testArguments = arguments; };
      python3Packages = lib.genAttrs pythonPackageNames (name: fake "python3-${name}" { }) // {
        buildPythonApplication =
          arguments: fake "${arguments.pname}-${arguments.version}" { buildArguments = arguments; };
      };
      python3.withPackages = select: fake "python3-env" { };
      mkShell = arguments: fake "shell" { shellArguments = arguments; };
      writeText = name: text: fake name { inherit text; };
      callPackage = file: arguments: fake (baseNameOf (dirOf file)) { callArguments = arguments; };
    };
in
{
  nixpkgs = {
    lib = lib // {
      nixosSystem =
        { modules, ... }:
        import ./evaluate.nix {
          modules = [ ./host.nix ] ++ modules;
        };
    };
    legacyPackages = lib.genAttrs systems packagesFor;
  };
  simple-nixos-mailserver.nixosModules.default = ./mailserver.nix;
}
