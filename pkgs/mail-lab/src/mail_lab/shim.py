"""`systemctl` inside a lab machine: the verbs and options scenario scripts and daemons use.

Bound over /usr/bin/systemctl in every machine (see machine_fs), it drives the lab's unit
manager for that machine; exit codes follow systemctl's (3: not active, 4/5: no such unit).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from collections.abc import Callable

from mail_lab.config import LabConfig
from mail_lab.lab_state import LabRecord
from mail_lab.unit_manager import UnitError, UnitManager, UnitNotFoundError
from mail_lab.unit_show import show_properties
from mail_lab.unit_store import LockTimeoutError, UnitStore
from mail_lab.units import unit_name

EXIT_NOT_ACTIVE = 3
EXIT_NO_UNIT_STATUS = 4
EXIT_NO_UNIT = 5
IGNORED_FLAGS = {
    "--no-pager",
    "--no-block",
    "--full",
    "-l",
    "--system",
    "--plain",
    "--no-legend",
    "--no-ask-password",
}


def _parse(argv: list[str]) -> tuple[dict[str, object], list[str]]:
    options: dict[str, object] = {
        "properties": [],
        "value": False,
        "quiet": False,
        "all": False,
        "failed": False,
    }
    words: list[str] = []
    args = iter(argv)
    for arg in args:
        if arg in IGNORED_FLAGS or arg.startswith(("--type=", "-t", "--state=", "--lines=", "-n")):
            continue
        if arg in ("-q", "--quiet"):
            options["quiet"] = True
        elif arg == "--value":
            options["value"] = True
        elif arg in ("-a", "--all"):
            options["all"] = True
        elif arg == "--failed":
            options["failed"] = True
        elif arg in ("-p", "--property"):
            options["properties"] += next(args, "").split(",")  # type: ignore[operator]
        elif arg.startswith(("--property=", "-p")):
            options["properties"] += arg.split("=", 1)[-1].removeprefix("-p").split(",")  # type: ignore[operator]
        elif arg.startswith("--signal=") or arg.startswith("-s"):
            options["signal"] = arg.split("=", 1)[-1].removeprefix("-s")
        elif arg == "--user":
            raise SystemExit("systemctl (mail-lab): there are no user service managers in the lab")
        elif arg.startswith("-"):
            raise SystemExit(f"systemctl (mail-lab): unsupported option {arg}")
        else:
            words.append(arg)
    return options, words


def _show(manager: UnitManager, names: list[str], options: dict[str, object]) -> int:
    wanted = [p for p in options["properties"] if p]  # type: ignore[attr-defined]
    blocks = []
    for name in names:
        properties = show_properties(manager, name)
        keys = wanted or list(properties)
        if options["value"]:
            blocks.append("\n".join(properties.get(k, "") for k in keys))
        else:
            blocks.append("\n".join(f"{k}={properties.get(k, '')}" for k in keys))
    print("\n\n".join(blocks))
    return 0


def _status(manager: UnitManager, names: list[str]) -> int:
    code = 0
    for name in names:
        properties = show_properties(manager, name)
        if properties["LoadState"] == "not-found":
            print(f"Unit {unit_name(name)} could not be found.", file=sys.stderr)
            code = max(code, EXIT_NO_UNIT_STATUS)
            continue
        state = manager.state(name)
        since = (
            time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(state.changed_at)) if state.changed_at else "-"
        )
        print(f"* {properties['Id']} - {properties['Description']}")
        print("     Loaded: loaded (mail-lab)")
        print(f"     Active: {state.active_state} ({state.sub_state}) since {since}; result {state.result}")
        if properties["MainPID"] != "0":
            print(f"   Main PID: {properties['MainPID']}")
        print(manager.log_tail(name, 10))
        if state.active_state != "active":
            code = max(code, EXIT_NOT_ACTIVE)
    return code


def _list_units(manager: UnitManager, options: dict[str, object]) -> int:
    for name in sorted(manager.units()):
        state = manager.state(name)
        if options["failed"] and state.active_state != "failed":
            continue
        if not options["all"] and not options["failed"] and state.active_state == "inactive":
            continue
        print(f"{name:40} loaded {state.active_state:10} {state.sub_state}")
    return 0


def _change(manager: UnitManager, verb: str, names: list[str]) -> int:
    actions: dict[str, Callable[[], None]] = {
        "start": lambda: manager.start(*names),
        "stop": lambda: manager.stop(*names),
        "restart": lambda: manager.restart(*names),
        "reload-or-restart": lambda: manager.restart(*names),
        "try-restart": lambda: manager.restart(*names, only_active=True),
        "condrestart": lambda: manager.restart(*names, only_active=True),
        "try-reload-or-restart": lambda: manager.restart(*names, only_active=True),
        "reset-failed": lambda: manager.reset_failed(*names),
    }
    try:
        actions[verb]()
    except UnitNotFoundError as error:
        print(f"Failed to {verb} {' '.join(names)}: {error}", file=sys.stderr)
        return EXIT_NO_UNIT
    except (UnitError, LockTimeoutError) as error:
        print(f"Job for {' '.join(names)} failed: {error}", file=sys.stderr)
        return 1
    return 0


def run(manager: UnitManager, argv: list[str]) -> int:
    options, words = _parse(argv)
    verb, names = (words[0], words[1:]) if words else ("list-units", [])
    if verb in (
        "start",
        "stop",
        "restart",
        "try-restart",
        "reload-or-restart",
        "condrestart",
        "try-reload-or-restart",
        "reset-failed",
    ):
        if not names and verb != "reset-failed":
            print(f"Too few arguments for {verb}.", file=sys.stderr)
            return 1
        return _change(manager, verb, names)
    if verb in ("is-active", "is-failed"):
        states = [
            manager.state(n).active_state if unit_name(n) in manager.units() else "inactive" for n in names
        ]
        if not options["quiet"]:
            print("\n".join(states))
        wanted = "active" if verb == "is-active" else "failed"
        return 0 if any(s == wanted for s in states) else (EXIT_NOT_ACTIVE if verb == "is-active" else 1)
    if verb == "is-enabled":
        known = all(unit_name(n) in manager.units() for n in names)
        if not options["quiet"]:
            print("\n".join("enabled" if unit_name(n) in manager.units() else "not-found" for n in names))
        return 0 if known else 1
    if verb == "show":
        return _show(manager, names, options)
    if verb == "status":
        return _status(manager, names or sorted(manager.units()))
    if verb == "list-units":
        return _list_units(manager, options)
    if verb == "list-jobs":
        print("No jobs running.")
        return 0
    if verb == "daemon-reload":
        return 0
    if verb == "kill":
        signum = signal.Signals[f"SIG{str(options.get('signal', 'TERM')).removeprefix('SIG')}"]
        for name in names:
            manager.kill(name, signum)
        return 0
    print(f"systemctl (mail-lab): unsupported verb {verb!r}", file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="systemctl (mail-lab)", add_help=False, allow_abbrev=False)
    parser.add_argument("--prefix", required=True)
    parser.add_argument("--machine", required=True)
    ours, rest = parser.parse_known_args(argv)
    config = LabConfig(ours.prefix)
    record = LabRecord.load(config)
    anchor = record.anchors.get(ours.machine) if record else None
    if anchor is None:
        print(
            f"systemctl (mail-lab): machine {ours.machine} of lab {ours.prefix} is not running",
            file=sys.stderr,
        )
        return 1
    manager = UnitManager(
        ours.machine, UnitStore(config.units_dir(ours.machine)), config.log_dir(ours.machine), anchor
    )
    return run(manager, rest)


if __name__ == "__main__":
    sys.exit(main())
