# The shape both roles (gateway, home) share: defaults filled into the intent, then its checks and
# its plan, and the strict plan that throws every failing check.
{ lib }:
{
  /**
    A role's functions as `import ./lib` exports them, named after the role (`gateway`, `home`):

    - `<role>Checks`: the role's checks, one NixOS assertion per rule; each message starts with
      the option path (`homeMail.<role>.…: …`) and says how to fix the value. Missing options take
      the role's defaults (`gatewayDefaults`, `homeDefaults`).
    - `<role>Plan`: the role's plan (docs/design.md). Never throws by itself: bad entries are left
      out, the checks report them.
    - `<role>PlanStrict`: the plan, or a throw of every failing check's message, one per line.

    # Type

    ```
    exports :: String -> Role -> { <role>Checks :: Intent -> [{ assertion :: Bool; message :: String; }]; <role>Plan :: Intent -> Plan; <role>PlanStrict :: Intent -> Plan; }
    ```
  */
  exports = name: role: {
    "${name}Checks" = role.checks;
    "${name}Plan" = role.plan;
    "${name}PlanStrict" = role.strict;
  };

  /**
    A role from its defaults and its two views of a complete intent.

    # Type

    ```
    role :: { withDefaults :: AttrSet -> AttrSet; checks :: View -> [Check]; plan :: View -> AttrSet; }
         -> { intent :: AttrSet -> AttrSet; checks :: AttrSet -> [Check]; plan :: AttrSet -> AttrSet; strict :: AttrSet -> AttrSet; }
    View = { intent :: AttrSet; get :: [String] -> Any; }
    ```

    `get` looks an option up by its path below the intent (`lib.util.lookup`).
  */
  role =
    {
      withDefaults,
      checks,
      plan,
    }:
    let
      view =
        rawIntent:
        let
          intent = withDefaults rawIntent;
        in
        {
          inherit intent;
          get = lib.util.lookup intent;
        };
      checksOf = rawIntent: checks (view rawIntent);
      planOf = rawIntent: plan (view rawIntent);
    in
    {
      intent = withDefaults;
      checks = checksOf;
      plan = planOf;
      strict = rawIntent: lib.checks.enforce (checksOf rawIntent) (planOf rawIntent);
    };
}
