# The pure core of home-mail: network plans computed from intents with Nix builtins only.
# `import ./lib` works without nixpkgs; see lib/README.md and docs/design.md (the plan's schema).
# The exports' doc comments (RFC 145) are here for the roles, and at their definitions otherwise
# (confine.nix, pair.nix, intent.nix, ip.nix).
let
  lib = import ./self.nix;
in
{
  /**
    The gateway's checks: one NixOS assertion per rule, each message starting with the option path
    (`homeMail.gateway.…: …`) and saying how to fix the value. Missing options take
    `gatewayDefaults`.

    # Type

    ```
    gatewayChecks :: GatewayIntent -> [{ assertion :: Bool; message :: String; }]
    ```
  */
  gatewayChecks = lib.gateway.checks;

  /**
    The gateway plan (docs/design.md). Never throws by itself: bad entries are left out, the
    checks report them.

    # Type

    ```
    gatewayPlan :: GatewayIntent -> GatewayPlan
    ```
  */
  gatewayPlan = lib.gateway.plan;

  /**
    The gateway plan, or a throw of every failing check's message, one per line.

    # Type

    ```
    gatewayPlanStrict :: GatewayIntent -> GatewayPlan
    ```
  */
  gatewayPlanStrict = lib.gateway.strict;

  /**
    The home's checks, as `gatewayChecks` (`homeMail.home.…`).

    # Type

    ```
    homeChecks :: HomeIntent -> [{ assertion :: Bool; message :: String; }]
    ```
  */
  homeChecks = lib.home.checks;

  /**
    The home plan (docs/design.md); never throws by itself.

    # Type

    ```
    homePlan :: HomeIntent -> HomePlan
    ```
  */
  homePlan = lib.home.plan;

  /**
    The home plan, or a throw of every failing check's message, one per line.

    # Type

    ```
    homePlanStrict :: HomeIntent -> HomePlan
    ```
  */
  homePlanStrict = lib.home.strict;

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
