"""`mail-lab`: bring the lab up, look at it, drive it, tear it down.

    mail-lab up [--keep] [--no-services]   build the lab; without --keep, stay in the foreground
                                           and tear it down on Ctrl-C / SIGTERM
    mail-lab down                          remove the lab (also a crashed one)
    mail-lab status                        machines and units
    mail-lab shell                         ptpython with the NixOS test driver's globals
    mail-lab run SCRIPT...                 run test scripts in order, in one namespace
    mail-lab demo [--keep]                 the inbound and outbound scenarios, with a report (mail_lab.demo)

The prefix comes from MAIL_LAB_PREFIX (default mlab-). Problems the user can fix are printed as
one line, without a traceback, and exit with 2: not root, a missing program (with the Debian
packages to install), a daemon whose port is taken, a machine that is down, a lab that is
already up, still coming up, or left stale.

A stale lab is one a crash left behind: its `mail-lab up` died without removing it or before its
bring-up finished (the record says whether it did), one of its machines died, or namespaces of
the prefix are left without a record. `up` removes it (and says so) and builds anew; `status`
reports it (exit 3); `shell`, `run` and `demo` refuse it; `down` removes it. A lab kept with
`--keep` holds mail: `up` refuses to replace it until `mail-lab down` removed it.
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import sys
from collections.abc import Callable

from mail_lab import demo, preflight
from mail_lab.driver import interactive, run_script
from mail_lab.errors import LabError
from mail_lab.lab.audit import audit_topology
from mail_lab.lab.paths import LabConfig
from mail_lab.lab.processes import ProcessRef
from mail_lab.lab.record import LabRecord
from mail_lab.lab.teardown import lab_namespaces, teardown
from mail_lab.lab.topology import load_topology
from mail_lab.lab.world import World
from mail_lab.machine import rootfs
from mail_lab.machine.api import Machine

EXIT_USER_ERROR = 2
# Services of systemd itself, left out of `status` (the lab's are what it reports).
SYSTEMD_OWN_UNITS = ("systemd-", "modprobe@", "getty", "console-", "dbus.", "e2scrub")


class LabBusyError(LabError, RuntimeError):
    pass


class LabStaleError(LabError, RuntimeError):
    pass


def one_line(error: BaseException) -> str:
    """The line of an error message that says what is wrong (Nix puts it on an `error:` line),
    with the error's notes (e.g. where a failed bring-up left its logs)."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", str(error))  # Nix colours its messages
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    if not lines:
        return type(error).__name__
    detail = next((line for line in lines[1:] if "error:" in line), None)
    line = f"{lines[0]} {detail}" if detail else lines[0]
    notes = [" ".join(note.split()) for note in getattr(error, "__notes__", [])]
    return "; ".join([line, *notes])


def _say(message: str) -> None:
    print(f"mail-lab: {message}", file=sys.stderr, flush=True)


def _running_owner(config: LabConfig) -> ProcessRef | None:
    record = LabRecord.load(config)
    return record.owner if record and record.owner_alive() else None


def busy_reason(config: LabConfig) -> str | None:
    """What a living `mail-lab up` is doing with the lab of this prefix, or None."""
    record = LabRecord.load(config)
    if record is not None and record.owner_alive() and record.owner:
        return f"is already up, held by `mail-lab up` (pid {record.owner.pid})"
    if record is not None and record.coming_up() and record.builder:
        return f"is still coming up (`mail-lab up`, pid {record.builder.pid})"
    return None


def stale_reason(config: LabConfig) -> str | None:
    """Why the lab of this prefix is stale (left behind by a crash), or None (up, or absent)."""
    record = LabRecord.load(config)
    if record is None:
        namespaces = lab_namespaces(config)
        return f"namespaces without a lab record: {', '.join(namespaces)}" if namespaces else None
    if record.owner is not None and not record.owner.alive():
        return f"its `mail-lab up` (pid {record.owner.pid}) ended without removing it"
    if not record.complete and not record.coming_up():
        builder = f" (pid {record.builder.pid})" if record.builder else ""
        return f"its bring-up did not finish: its `mail-lab up`{builder} ended first"
    dead = sorted(name for name, init in record.inits.items() if init is not None and not init.alive())
    if dead:
        return f"machines died: {', '.join(dead)}"
    if not config.topology_file.exists():
        return f"{config.topology_file} is missing"
    return None


def _stale_error(config: LabConfig, reason: str) -> LabStaleError:
    return LabStaleError(
        f"lab {config.prefix!r} is stale ({reason}): `mail-lab down` removes it,"
        " `mail-lab up` builds a new one"
    )


def _attach(config: LabConfig) -> World:
    """The lab that is up, refusing a stale one (its machines may be gone or unowned)."""
    record = LabRecord.load(config)
    if record is not None and record.coming_up() and record.builder:
        raise LabBusyError(
            f"lab {config.prefix!r} is still coming up (`mail-lab up`, pid {record.builder.pid}):"
            " wait until it says it is up"
        )
    reason = stale_reason(config)
    if reason is not None:
        raise _stale_error(config, reason)
    return World.attach(config.prefix)


class Interrupted(BaseException):
    """SIGTERM or SIGHUP: like Ctrl-C, ends `mail-lab up` (which then tears the lab down)."""


def _interrupt(signum: int, frame: object) -> None:
    raise Interrupted(signal.Signals(signum).name)


def cmd_up(config: LabConfig, args: argparse.Namespace) -> int:
    preflight.check(services=not args.no_services)
    busy = busy_reason(config)
    if busy is not None:
        raise LabBusyError(f"lab {config.prefix!r} {busy}; run `mail-lab down` first")
    reason = stale_reason(config)
    if reason is None and config.lab_file.exists():
        raise LabBusyError(
            f"lab {config.prefix!r} is up, kept (--keep), with the mail in it;"
            " `mail-lab down` removes it and its mail, then `mail-lab up` builds a new one"
        )
    if reason is not None:
        _say(f"removing the previous lab {config.prefix!r} ({reason}) and any mail in it")
    if args.keep:
        World.up(config.prefix, services=not args.no_services)
        _say(f"lab {config.prefix!r} is up; `mail-lab shell` to drive it, `mail-lab down` to remove it")
        return 0
    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _interrupt)
    try:
        # Interrupted during the bring-up, World.up removes what it built before re-raising.
        World.up(config.prefix, services=not args.no_services, owner=ProcessRef.of(os.getpid()))
        _say(f"lab {config.prefix!r} is up; Ctrl-C or SIGTERM tears it down")
        # The lab's lifetime: sleep until a signal handler raises (pause() polls nothing).
        while True:
            signal.pause()
    except (KeyboardInterrupt, Interrupted) as stop:
        for signum in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(signum, signal.SIG_IGN)
        _say(f"{stop.args[0] if stop.args else 'SIGINT'}: tearing the lab down")
        teardown(config)
    return 0


def cmd_down(config: LabConfig, args: argparse.Namespace) -> int:
    owner = _running_owner(config)
    report = teardown(config)
    if owner is not None and owner.pid != os.getpid():
        owner.signal(signal.SIGTERM)
    _say(
        f"lab {config.prefix!r} removed: {len(report.namespaces)} namespaces,"
        f" {len(report.killed)} processes ended"
    )
    return 0


def cmd_status(config: LabConfig, args: argparse.Namespace) -> int:
    namespaces = lab_namespaces(config)
    record = LabRecord.load(config)
    if record is not None and record.coming_up() and record.builder:
        print(f"lab {config.prefix!r}: coming up (`mail-lab up`, pid {record.builder.pid})")
        return 3
    reason = stale_reason(config)
    if reason is not None:
        print(str(_stale_error(config, reason)))
        return 3
    if record is None:
        print(f"lab {config.prefix!r}: down")
        return 3
    world = World.attach(config.prefix)
    owner = f"held by pid {record.owner.pid}" if record.owner_alive() and record.owner else "kept (--keep)"
    print(f"lab {config.prefix!r}: up, {owner}; namespaces: {', '.join(namespaces)}")
    code = 0
    for name, machine in world.machines.items():
        print(f"{name}: {'running' if machine.is_up() else 'DOWN'}")
        if not machine.is_up():
            code = 3
            continue
        for unit, active_state, sub_state in unit_states(machine):
            print(f"  {unit:42} {active_state:9} {sub_state}")
            if active_state == "failed":
                code = 3
    return code


def unit_states(machine: Machine) -> list[tuple[str, str, str]]:
    """(unit, active state, sub state) of the services the machine's systemd has loaded, but
    systemd's own."""
    listing = machine.succeed("systemctl list-units --type=service --all --plain --no-legend")
    rows = [line.split() for line in listing.splitlines()]
    return sorted(
        (row[0], row[2], row[3]) for row in rows if len(row) >= 4 and not row[0].startswith(SYSTEMD_OWN_UNITS)
    )


def cmd_shell(config: LabConfig, args: argparse.Namespace) -> int:
    interactive(_attach(config))
    return 0


def cmd_run(config: LabConfig, args: argparse.Namespace) -> int:
    *prelude, script = args.scripts
    run_script(script, _attach(config), prelude)
    return 0


def cmd_demo(config: LabConfig, args: argparse.Namespace) -> int:
    """Run the demo on the lab that is up, or on one built for it (removed after, unless --keep).

    A lab of the prefix that is stale or still coming up is refused, as by `run`."""
    if config.lab_file.exists() or lab_namespaces(config):
        return demo.run(_attach(config))
    preflight.check(services=True)
    world = World.up(config.prefix)
    try:
        return demo.run(world)
    finally:
        if args.keep:
            _say(f"lab {config.prefix!r} kept: `mail-lab shell` to look around, `mail-lab down` to remove it")
        else:
            world.down()


def cmd_check(config: LabConfig, args: argparse.Namespace) -> int:
    """Evaluate the plans and audit them, without building anything."""
    audit_topology(load_topology())
    print("plans evaluate and use documentation addresses only")
    return 0


def cmd_tree(config: LabConfig, args: argparse.Namespace) -> int:
    """Build the machines' root filesystem if it is not cached yet (progress on stderr)."""
    tree = rootfs.ensure_tree()
    print(f"{tree.root} (built in {tree.build_seconds:.0f} s, {len(tree.packages)} packages)")
    return 0


COMMANDS: dict[str, Callable[[LabConfig, argparse.Namespace], int]] = {
    "up": cmd_up,
    "down": cmd_down,
    "status": cmd_status,
    "shell": cmd_shell,
    "run": cmd_run,
    "demo": cmd_demo,
    "check": cmd_check,
    "tree": cmd_tree,
}


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="mail-lab", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    sub = top.add_subparsers(dest="command", required=True)
    up = sub.add_parser("up", help="build the lab")
    up.add_argument("--keep", action="store_true", help="leave the lab running and return")
    up.add_argument("--no-services", action="store_true", help="only the network (no mail daemons)")
    sub.add_parser("down", help="remove the lab")
    sub.add_parser("status", help="machines and units")
    sub.add_parser("shell", help="interactive driver shell (ptpython)")
    run = sub.add_parser("run", help="run test scripts against the running lab")
    run.add_argument(
        "scripts", nargs="+", help="scripts run in order in one namespace (e.g. common.py first)"
    )
    demo_parser = sub.add_parser("demo", help="run the inbound and outbound scenarios and report")
    demo_parser.add_argument("--keep", action="store_true", help="leave the lab it built running")
    sub.add_parser("check", help="evaluate and audit the plans only")
    sub.add_parser("tree", help="build the machines' root filesystem (cached; debootstrap)")
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        config = LabConfig.from_environment()
        if args.command != "check" and os.geteuid() != 0:
            raise preflight.PreflightError("the lab must run as root (network namespaces, mounts)")
        return COMMANDS[args.command](config, args)
    except LabError as error:
        _say(one_line(error))
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        _say("interrupted")
        return 130
    except BrokenPipeError:
        # Output piped into e.g. `head`, which stopped reading: not an error of the lab.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
