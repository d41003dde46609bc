"""Starting a configured machine's units and knowing when it is up, on its own systemd."""

from __future__ import annotations

import shlex

from mail_lab.errors import LabError
from mail_lab.machine.api import Machine

# What a lab machine starts once the world has attached and configured it (its daemons), as
# NixOS starts daemons after its network.
MACHINE_TARGET = "multi-user.target"
START_TIMEOUT = 120
# How often a starting machine looks at its job queue: from inside, so a look costs no entering of
# the container (the driver's waits, from outside, look every 0.25 s).
JOB_POLL = 0.05


class StartError(LabError, RuntimeError):
    """A unit of a machine failed to start; the message has its result and journal."""


def start_units(machine: Machine, background: tuple[str, ...]) -> None:
    """Start the machine's target; it is up when no job is left but those of `background` units."""
    machine.succeed(f"systemctl start {MACHINE_TARGET}", timeout=START_TIMEOUT)
    # The target's job ends with its own wants; units those want (what the plan starts with
    # netns@wg) may still run.
    _wait_for_no_jobs(machine, background)
    check_failed_units(machine)


def wait_until_settled(machine: Machine) -> None:
    """Wait until the machine has no job left, background ones included."""
    _wait_for_no_jobs(machine, ())
    check_failed_units(machine)


def check_failed_units(machine: Machine) -> None:
    listing = machine.succeed("systemctl list-units --failed --plain --no-legend")
    failed = [line.split()[0] for line in listing.splitlines() if line.strip()]
    if failed:
        raise StartError(f"{machine.name}: {_failure_report(machine, failed)}")


def _wait_for_no_jobs(machine: Machine, background: tuple[str, ...]) -> None:
    """Until no job is left but those of the `background` units, for START_TIMEOUT at most."""
    tries = int(START_TIMEOUT / JOB_POLL)
    loop = (
        f"i=0; until {_no_jobs_but(background)}; do i=$((i + 1)); "
        f"[ $i -lt {tries} ] || exit 1; sleep {JOB_POLL}; done"
    )
    code, _ = machine.execute(loop, timeout=START_TIMEOUT + 10)
    if code != 0:
        jobs = machine.execute("systemctl list-jobs --no-legend --plain")[1]
        raise StartError(f"{machine.name}: jobs still running after {START_TIMEOUT} s:\n{jobs}")


def _no_jobs_but(background: tuple[str, ...]) -> str:
    """A command that succeeds when the machine has no job but those of the `background` units."""
    jobs = "systemctl list-jobs --no-legend --plain | awk '{print $2}'"
    others = "".join(f" | grep -vxF {shlex.quote(unit)}" for unit in background)
    return f'test -z "$({jobs}{others})"'


def _failure_report(machine: Machine, failed: list[str]) -> str:
    """The first failed unit, why (its Result=, and the line that says a port is in use, if one
    does), then the failed units' journal."""
    unit = failed[0]
    result = machine.get_unit_property(unit, "Result")
    journal = machine.execute(f"journalctl --no-pager -o cat -u {shlex.quote(unit)}")[1]
    in_use = next((line.strip() for line in journal.splitlines() if "already in use" in line.lower()), None)
    first = f"{unit} failed (port in use): {result}: {in_use}" if in_use else f"{unit} failed: {result}"
    others = f" (failed too: {', '.join(failed[1:])})" if failed[1:] else ""
    tail = "\n".join(journal.splitlines()[-30:])
    return f"{first}{others}\n{tail}"
