# The doctor's plan: what /etc/home-mail/plan.json holds on a gateway or a home (written by the
# modules and by the lab), read by pkgs/home-mail-doctor. Defaults are written here only.
{ lib }:
let
  defaults = {
    dkim = null;
    dnsbl = [ "zen.spamhaus.org" ];
    limits = {
      handshakeWarn = 180; # seconds since the last handshake: WireGuard renews every 2 minutes
      handshakeFail = 300;
      certificateWarnDays = 14;
      queueWarnAge = 3600; # seconds the oldest deferred message may wait
    };
    # Addresses whose routes show which way traffic leaves (documentation addresses: `ip route
    # get` sends nothing).
    outsideAddresses = {
      ipv4 = "192.0.2.1";
      ipv6 = "2001:db8::1";
    };
  };
in
{
  inherit defaults;

  /**
    The doctor's plan for one machine.

    # Type

    ```
    doctorPlan :: { plan; mailName; domains; dkim ? null | { selector; keyFile; }; dnsbl ? [string]; limits ? attrs; outsideAddresses ? attrs; } -> attrs
    ```

    `plan` is the role's plan (gatewayPlan or homePlan); its `role` becomes the file's.
  */
  doctorPlan =
    args:
    defaults
    // builtins.removeAttrs args [ "limits" ]
    // {
      inherit (args.plan) role;
      limits = defaults.limits // (args.limits or { });
      file = "/etc/home-mail/plan.json";
    };
}
