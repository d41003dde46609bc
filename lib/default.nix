# The pure core of home-mail: network plans computed from intents with Nix builtins only.
# `import ./lib` works without nixpkgs; see lib/README.md and docs/design.md (the plan's schema).
# The exports' doc comments (RFC 145) are at their definitions: the roles' functions in role.nix
# (exports), the others here or in confine.nix, pair.nix, intent.nix, ip.nix.
let
  lib = import ./self.nix;
in
# The roles' functions: gatewayChecks, gatewayPlan, gatewayPlanStrict, homeChecks, homePlan,
# homePlanStrict (documented once, at lib.role.exports).
lib.role.exports "gateway" lib.gateway
// lib.role.exports "home" lib.home
// {
  inherit (lib.pair) pairChecks;

  inherit (lib.confine)
    moveNs
    netnsUnitName
    renderCommand
    renderUnit
    ;

  inherit (lib.intent) gatewayDefaults homeDefaults;

  /**
    The doctor's plan for one machine, what /etc/home-mail/plan.json holds (lib/doctor.nix).

    # Type

    ```
    doctorPlan :: { plan; mailName; domains; dkim ? null | { selector; keyFile; }; dnsbl ? [String]; limits ? AttrSet; outsideAddresses ? AttrSet; } -> AttrSet
    ```
  */
  inherit (lib.doctor) doctorPlan;

  /**
    The defaults `doctorPlan` fills in (DNSBL zones, limits, outside addresses).

    # Type

    ```
    doctorDefaults :: AttrSet
    ```
  */
  doctorDefaults = lib.doctor.defaults;

  /**
    Address parsing, normalization and classification (lib/ip.nix).
  */
  inherit (lib) ip;
}
