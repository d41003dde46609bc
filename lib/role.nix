# The shape both roles (gateway, home) share: defaults filled into the intent, then its checks and
# its plan, and the strict plan that throws every failing check.
{ lib }:
{
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
