"""The lab's own daemon units (`units.Unit`) as NixOS `systemd.services` definitions.

So that the daemons the lab runs today (mail_lab.services, mail_lab.net.wireguard) can run under a
machine's real systemd through the one renderer (mail_lab.units.render), each Unit becomes the
definition a NixOS module would write: its settings as `serviceConfig`, its dependencies as the
unit options, `start_at_boot` as `wantedBy = [ "multi-user.target" ]`, and its readiness probe as
a `postStart` that waits for it (bounded), the pattern NixOS modules use for daemons that do not
notify systemd. Its commands are argument lists, rendered as Exec lines with every argument quoted
and `$` and `%` doubled (systemd would expand them; the lab's arguments are literal), the program
by its path in the machines' tree, and `path` lists the packages of every program the commands
name, so the daemon finds them as on NixOS. A template's instance (`kresd@1`) takes NixOS's
shape: its settings are a drop-in over the template its package ships, and a target wants it.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Mapping
from typing import Any

from mail_lab.units.unit import COMMAND_FIELDS, Unit

SETTING_OF_FIELD = {
    "exec_start_pre": "ExecStartPre",
    "exec_start": "ExecStart",
    "exec_start_post": "ExecStartPost",
    "exec_stop": "ExecStop",
    "exec_stop_post": "ExecStopPost",
}
WORD = re.compile(r"[A-Za-z0-9_.+-]+")
SHELLS = ("sh", "bash")
READY_POLL = 0.1
INSTANCE = re.compile(r"(?P<template>[^@]+)@(?P<instance>[^@.]+)\.service")


class UnitDefinitionError(ValueError):
    """A lab unit names a program the machines' tree does not have."""


def _quote(argument: str) -> str:
    """One argument, double-quoted for systemd: C escapes for backslash, quote and line breaks
    (an Exec line is one line), `$` and `%` doubled."""
    escaped = argument.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return '"' + escaped.replace("$", "$$").replace("%", "%%") + '"'


def exec_line(command: list[str], programs: Mapping[str, str], unit: str) -> str:
    """One argument list as an Exec line: `[-]<program path> "arg" ...`."""
    ignore, program = ("-", command[0][1:]) if command[0].startswith("-") else ("", command[0])
    if program not in programs:
        raise UnitDefinitionError(
            f"{unit}: program {program!r} is in no package of the machines' tree;"
            " add its package to pkgs/mail-lab/machine-packages.txt"
        )
    return " ".join([f"{ignore}{programs[program]}", *map(_quote, command[1:])])


def named_programs(unit: Unit, programs: Mapping[str, str]) -> set[str]:
    """Programs the unit's commands run: each command's, the one after `--`, words of a shell script."""
    named: set[str] = set()
    scripts = [unit.ready] if unit.ready else []
    for field_name in COMMAND_FIELDS:
        for command in getattr(unit, field_name):
            named.add(command[0].removeprefix("-"))
            named.update(command[index + 1] for index, arg in enumerate(command[:-1]) if arg == "--")
            if command[0].removeprefix("-") in SHELLS and "-c" in command:
                scripts.append(command[command.index("-c") + 1])
    for script in scripts:
        named.update(word for word in WORD.findall(script) if word in programs)
    return {name for name in named if name in programs}


def _package_of(program_path: str) -> str:
    """`/usr/lib/mail-lab/packages/<package>/bin/<program>` -> `<package>`."""
    return program_path.rsplit("/", 3)[-3]


def definition(
    unit: Unit, programs: Mapping[str, str], own_programs: Mapping[str, str] | None = None
) -> dict[str, Any]:
    """The NixOS definition of `unit` (its name without `.service` is the service's name).
    `own_programs` are programs of no package of the tree (the lab's python3): usable in commands,
    never on `path`."""
    own_programs = own_programs or {}
    programs = {**programs, **own_programs}
    service: dict[str, Any] = {"Type": unit.type}
    for field_name, setting in SETTING_OF_FIELD.items():
        commands = getattr(unit, field_name)
        if commands:
            service[setting] = [exec_line(command, programs, unit.name) for command in commands]
    if unit.remain_after_exit:
        service["RemainAfterExit"] = True
    if unit.success_exit_status:
        service["SuccessExitStatus"] = " ".join(str(code) for code in unit.success_exit_status)
    if unit.user:
        service["User"] = unit.user
    if unit.network_namespace_path:
        service["NetworkNamespacePath"] = unit.network_namespace_path
    for setting, paths in (
        ("BindReadOnlyPaths", unit.bind_read_only_paths),
        ("BindPaths", unit.bind_paths),
        ("InaccessiblePaths", unit.inaccessible_paths),
    ):
        if paths:
            service[setting] = list(paths)
    result: dict[str, Any] = {"serviceConfig": service}
    if unit.description:
        result["description"] = unit.description
    for option, values in (
        ("after", unit.after),
        ("wants", unit.wants),
        ("requires", unit.requires),
        ("bindsTo", unit.binds_to),
        ("partOf", unit.part_of),
    ):
        if values:
            result[option] = list(values)
    if unit.environment:
        result["environment"] = dict(unit.environment)
    if unit.start_at_boot:
        result["wantedBy"] = ["multi-user.target"]
    if unit.ready:
        tries = int(unit.ready_timeout / READY_POLL) + 1
        complaint = shlex.quote(f"{unit.name} not ready after {unit.ready_timeout:.0f} s")
        exited = shlex.quote(f"{unit.name} exited before it was ready")
        # systemd lets ExecStartPost= run on after the main process died (a port in use): the wait
        # ends with it ($MAINPID, which systemd sets for it).
        result["postStart"] = (
            f"i=0\nuntil {unit.ready}; do\n  i=$((i + 1))\n"
            f"  if [ $i -ge {tries} ]; then echo {complaint} >&2; exit 1; fi\n"
            f'  if [ -n "${{MAINPID:-}}" ] && [ ! -d "/proc/$MAINPID" ]; then echo {exited} >&2; exit 1; fi\n'
            f"  sleep {READY_POLL}\ndone"
        )
    packages = sorted(
        {_package_of(programs[name]) for name in named_programs(unit, programs) if name not in own_programs}
    )
    if packages:
        result["path"] = packages
    return result


def _instance(unit: Unit) -> tuple[str, str] | None:
    """`kresd@1.service` -> ("kresd", "1"); None for a unit that is no template's instance."""
    match = INSTANCE.fullmatch(unit.name)
    return (match["template"], match["instance"]) if match else None


def _template_definition(unit: Unit, programs: Mapping[str, str]) -> dict[str, Any]:
    """An instance's settings as a drop-in over its template, the shape of NixOS's
    `systemd.services."kresd@"`: the template ships in the daemon's package (the tree's, as
    `systemd.packages` on NixOS), so its own ExecStart= is reset first, and the instance is started
    by its target, not by an [Install] of the template."""
    result = definition(unit, programs)
    result.pop("wantedBy", None)
    result["overrideStrategy"] = "asDropin"
    service = result["serviceConfig"]
    service["ExecStart"] = ["", *service.get("ExecStart", [])]
    # The lab's daemon runs as its unit says (root unless `user`) and drops privileges itself;
    # the template's own user and capability bounds are for its own ExecStart.
    service.setdefault("User", "root")
    service["Group"] = service["User"]
    service["CapabilityBoundingSet"] = "~"
    service["AmbientCapabilities"] = ""
    return result


def definitions(
    units: list[Unit], programs: Mapping[str, str], own_programs: Mapping[str, str] | None = None
) -> dict[str, list[dict[str, Any]]]:
    """Service name -> [definition], for units.render.render_services; a template's instance
    (`kresd@1.service`) as a definition of its template (`kresd@`)."""
    services: dict[str, list[dict[str, Any]]] = {}
    for unit in units:
        instance = _instance(unit)
        if instance is None:
            services[unit.name.removesuffix(".service")] = [definition(unit, programs, own_programs)]
        else:
            services.setdefault(f"{instance[0]}@", []).append(_template_definition(unit, programs))
    return services


def target_definitions(units: list[Unit]) -> dict[str, list[dict[str, Any]]]:
    """Target name -> [definition]: `<template>.target` wants the instances that start at boot
    and is wanted by multi-user.target, as NixOS's `systemd.targets.kresd` (the target ships with
    the daemon's package, hence a drop-in)."""
    targets: dict[str, list[dict[str, Any]]] = {}
    for unit in units:
        instance = _instance(unit)
        if instance is not None and unit.start_at_boot:
            targets.setdefault(instance[0], []).append(
                {"wantedBy": ["multi-user.target"], "wants": [unit.name], "overrideStrategy": "asDropin"}
            )
    return targets
