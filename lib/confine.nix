# Network namespaces as systemd units, and confining services to them.
#
# Commands are argument lists with bare program names (`[ "ip" "netns" "add" "%i" ]`): the NixOS
# module puts store paths in front of them (see renderCommand), the lab runs them as they are.
# A program name starting with "-" is systemd's "ignore this command's failure" prefix.
# Every Exec* setting is a list of such commands.
{ lib }:
let
  inherit (builtins) concatStringsSep map match;
  inherit (lib.names) netns;
in
rec {
  /**
    The unit that creates namespace `name`.

    # Type

    ```
    netnsUnitName :: String -> String  # "netns@<name>.service"
    ```
  */
  netnsUnitName = name: (netns name).unit;

  # A command run inside the namespace; nsenter only switches the network namespace (unlike
  # `ip netns exec`, which also remounts /sys and /etc files).
  inNamespace = name: command: [
    "nsenter"
    "--net=${(netns name).path}"
    "--"
  ] ++ command;

  # The template unit netns@<name>: creates the namespace with loopback up, deletes it on stop.
  # %i (not %I) keeps the instance name literal; %I would turn "-" into "/".
  netnsTemplate = {
    description = "%i network namespace";
    before = [ "network.target" ];
    serviceConfig = {
      Type = "oneshot";
      RemainAfterExit = true;
      # A namespace left over by a start that failed after creating it would make `add` fail.
      ExecStartPre = [
        [
          "-ip"
          "netns"
          "delete"
          "%i"
        ]
      ];
      ExecStart = [
        [
          "ip"
          "netns"
          "add"
          "%i"
        ]
      ];
      # `ip netns add` leaves lo down, which breaks every connection to 127.0.0.1 and ::1.
      ExecStartPost = [
        [
          "ip"
          "-n"
          "%i"
          "link"
          "set"
          "lo"
          "up"
        ]
      ];
      ExecStop = [
        [
          "ip"
          "netns"
          "delete"
          "%i"
        ]
      ];
    };
  };

  # The drop-in for one namespace: its sysctls and firewall, applied before any unit ordered
  # after it (the WireGuard interface, the confined services) starts. ExecStartPost entries of a
  # drop-in are appended to the template's.
  netnsInstance =
    { name, sysctl }:
    {
      overrideStrategy = "asDropin";
      wantedBy = [ "multi-user.target" ];
      serviceConfig.ExecStartPost = [
        (inNamespace name (
          [
            "sysctl"
            "-q"
            "-w"
          ]
          ++ map (key: "${key}=${toString sysctl.${key}}") (builtins.attrNames sysctl)
        ))
        (inNamespace name [
          "nft"
          "-f"
          (netns name).files.ruleset
        ])
      ];
    };

  # What a systemd.services attribute name is: "kresd@" a template, "kresd@1" an instance of
  # one, "postfix" a plain service.
  serviceKind =
    service:
    if match ".*@" service != null then
      "template"
    else if match ".+@.+" service != null then
      "instance"
    else
      "service";

  /**
    `systemd.services.<service>` attributes that run a service inside namespace `namespace`.
    Stop and restart reach it through BindsTo=; a start of the namespace unit starts it again
    through wantedBy (the namespace unit Wants= it; BindsTo= alone starts nothing). A template
    ("kresd@") confines every instance but is started by none: a template in a `.wants/`
    directory of netns@<name> would mean its instance <name>, so list the instances to have them
    started. An instance ("kresd@1") is a drop-in over its template's unit.

    # Type

    ```
    moveNs :: { namespace :: String; service ? String; after ? [String]; wants ? [String]; } -> AttrSet
    ```
  */
  moveNs =
    {
      namespace,
      service ? "",
      after ? [ ],
      wants ? [ ],
    }:
    let
      unit = netnsUnitName namespace;
      kind = serviceKind service;
    in
    {
      # A recreated namespace is a new one: BindsTo= restarts us with it.
      bindsTo = [ unit ];
      after = [ unit ] ++ after;
      inherit wants;
      serviceConfig = {
        NetworkNamespacePath = (netns namespace).path;
        # NetworkNamespacePath= does not apply /etc/netns/<name>/ the way `ip netns exec` does.
        BindReadOnlyPaths = [ "${(netns namespace).files.resolvConf}:/etc/resolv.conf" ];
        # glibc would ask the host's nscd, i.e. resolve outside the namespace.
        InaccessiblePaths = [ "-/run/nscd" ];
      };
    }
    // (if kind == "template" then { } else { wantedBy = [ unit ]; })
    // (if kind == "instance" then { overrideStrategy = "asDropin"; } else { });

  /**
    One command as a systemd Exec line: `programs` maps bare program names to executables
    (e.g. `{ ip = "${pkgs.iproute2}/bin/ip"; }`). The program is the first argument and the one
    after a "--" (what nsenter runs); the other arguments are quoted for systemd, and a `$` in
    them is doubled: systemd would expand `$NAME` itself, the plan's `$` is for the program.
    Specifiers (`%i`) stay: the plan's templates mean them for systemd.

    # Type

    ```
    renderCommand :: { <program> :: String; } -> [String] -> String
    ```
  */
  renderCommand =
    programs: command:
    let
      prefixed = match "(-?)(.*)" (builtins.head command);
      quote =
        argument: "\"${builtins.replaceStrings [ "\\" "\"" "$" ] [ "\\\\" "\\\"" "$$" ] argument}\"";
      argumentAt =
        index:
        let
          argument = builtins.elemAt command index;
        in
        if index > 0 && builtins.elemAt command (index - 1) == "--" then programs.${argument} else quote argument;
    in
    concatStringsSep " " (
      [ "${builtins.head prefixed}${programs.${builtins.elemAt prefixed 1}}" ]
      ++ builtins.genList (index: argumentAt (index + 1)) (builtins.length command - 1)
    );

  /**
    A unit's attributes with every Exec* command list rendered by `renderCommand`.

    # Type

    ```
    renderUnit :: { <program> :: String; } -> Unit -> Unit
    ```
  */
  renderUnit =
    programs: unit:
    if unit ? serviceConfig then
      unit
      // {
        serviceConfig = builtins.mapAttrs (
          key: value: if match "Exec.*" key != null then map (renderCommand programs) value else value
        ) unit.serviceConfig;
      }
    else
      unit;
}
