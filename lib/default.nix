# The pure core of home-mail: network plans computed from intents with Nix builtins only.
# `import ./lib` works without nixpkgs; see lib/README.md and docs/design.md.
let
  gateway = import ./gateway.nix;
  home = import ./home.nix;
  confine = import ./confine.nix;
  pair = import ./pair.nix;
  intent = import ./intent.nix;
  doctor = import ./doctor.nix;
in
{
  gatewayChecks = gateway.checks;
  gatewayPlan = gateway.plan;
  gatewayPlanStrict = gateway.strict;

  homeChecks = home.checks;
  homePlan = home.plan;
  homePlanStrict = home.strict;

  inherit (pair) pairChecks;

  inherit (confine)
    moveNs
    netnsUnitName
    renderCommand
    renderUnit
    ;

  inherit (intent) gatewayDefaults homeDefaults;

  inherit (doctor) doctorPlan;
  doctorDefaults = doctor.defaults;

  ip = import ./ip.nix;
}
