# The NixOS VM tests: one pkgs.testers.runNixOSTest per scenario script of tests/scenarios (the
# same scripts the lab runs), each on the whole test world of tests/topology.nix: internet,
# gateway, home, remote and client; and vm-plain, the inbound and outbound scenarios against the
# home without simple-nixos-mailserver (nodes/home-plain.nix, hosts/home-plain). The test script
# is a prelude defining `topology` (the JSON of tests/topology.nix), then the shared scripts (the
# lab's mail header parsers, which its driver runs first too, the daemon log rules, and
# tests/scenarios/common.py), then the scenarios, then the check of the daemons' journals
# (daemon_logs.py).
{
  pkgs,
  self,
  simple-nixos-mailserver,
}:
let
  inherit (pkgs) lib;
  world = import ./world.nix { inherit lib; };
  scenarioDirectory = ../scenarios;
  sharedScripts = [
    ../../pkgs/mail-lab/src/mail_lab/mail/headers.py
    ../../pkgs/mail-lab/src/mail_lab/lab/daemon_logs.py
    (scenarioDirectory + "/common.py")
  ];
  # Run after the scenario: fails on error and warning lines of the daemons' journals.
  logCheck = ./daemon_logs.py;
  scenarioNames = lib.sort lib.lessThan (
    map (lib.removeSuffix ".py") (
      lib.filter (name: lib.hasSuffix ".py" name && name != "common.py") (
        lib.attrNames (lib.filterAttrs (_: type: type == "regular") (builtins.readDir scenarioDirectory))
      )
    )
  );

  worldTest =
    {
      name,
      scenarios,
      nodes ? import ./nodes,
    }:
    pkgs.testers.runNixOSTest {
      name = "home-mail-${name}";
      node.specialArgs = {
        inherit world;
        homeMailModules = self.nixosModules;
        mailserverModule = simple-nixos-mailserver.nixosModules.default;
      };
      defaults =
        {
          name,
          pkgs,
          world,
          ...
        }:
        {
          # The driver's machine names are the nodes' (`home`, `remote`, ...) while each node's host
          # name is the test world's (home is `mail`, as in the lab): drivers that name machines by
          # system.name, whose default is the host name, see the nodes' names too.
          system.name = name;
          # Every machine trusts the test world's CA (home's mail certificate, the ACME server).
          security.pki.certificateFiles = [ world.secrets.caCertificate ];
          # The scenarios send and read mail with `mail-test-agent` (the lab's mail test agent, on
          # the PATH of the lab's machines too), talk HTTP with curl, probe ports with nc, inspect
          # certificates with openssl and add counters with nft.
          environment.systemPackages = [
            self.packages.${pkgs.stdenv.hostPlatform.system}.mail-test-agent
            pkgs.curl
            pkgs.netcat-openbsd
            pkgs.openssl
            pkgs.nftables
          ];
          networking.useDHCP = false;
        };
      inherit nodes;
      testScript =
        world.prelude
        + lib.concatMapStrings (script: builtins.readFile script + "\n") sharedScripts
        + lib.concatMapStringsSep "\n" (scenario: builtins.readFile (scenarioDirectory + "/${scenario}.py")) scenarios
        + "\n"
        + builtins.readFile logCheck;
    };
in
lib.listToAttrs (
  map (
    scenario:
    lib.nameValuePair "vm-${scenario}" (worldTest {
      name = scenario;
      scenarios = [ scenario ];
    })
  ) scenarioNames
)
// {
  vm-plain = worldTest {
    name = "plain";
    scenarios = [
      "inbound"
      "outbound"
    ];
    nodes = import ./nodes // {
      home = ./nodes/home-plain.nix;
    };
  };
}
