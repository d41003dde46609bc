"""`mail-lab demo`: the inbound and outbound scenarios of tests/scenarios on the lab, with a report.

The scenario scripts are the ones the lab's tests and the NixOS VM tests run (through the lab's
driver, after tests/scenarios/common.py): inbound over IPv4, IPv6 and through the MX record, read
back over IMAPS; outbound to each of the remote's domains, DKIM-signed, from the forwarded
addresses, with SPF/DKIM/DMARC passing at the remote; then home-mail-doctor on both sides. The
report names what each scenario proves (its opening comment), every subtest with its outcome and
time, and where the logs are. The demo passes when every scenario ran to its end.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

from mail_lab.driver import SubtestResult, run_script
from mail_lab.errors import LabError
from mail_lab.lab.topology import repository_root
from mail_lab.lab.world import World

SCENARIOS = ("inbound", "outbound")


def scenarios_dir() -> Path:
    return repository_root() / "tests" / "scenarios"


def default_scenarios() -> list[Path]:
    return [scenarios_dir() / f"{name}.py" for name in SCENARIOS]


@dataclass
class ScenarioRun:
    """One scenario script run on the lab: its subtests, and an error that ended it early."""

    script: Path
    subtests: list[SubtestResult] = field(default_factory=list)
    error: str = ""

    @property
    def name(self) -> str:
        return self.script.stem

    @property
    def proves(self) -> str:
        """The script's opening comment: what it shows."""
        lines = []
        for line in self.script.read_text().splitlines():
            if not line.startswith("#"):
                break
            lines.append(line.lstrip("#").strip())
        return " ".join(lines)

    @property
    def ok(self) -> bool:
        return not self.error and bool(self.subtests) and all(s.passed for s in self.subtests)


def run_scenario(world: World, script: Path) -> ScenarioRun:
    """Run `script` after common.py through the lab's driver; a failed check ends it, recorded."""
    found = ScenarioRun(script)
    try:
        run_script(script, world, prelude=[scenarios_dir() / "common.py"], subtests=found.subtests)
    except LabError:
        raise  # the user can fix it (e.g. a machine is down): the CLI says how
    except Exception as error:
        found.error = f"{type(error).__name__}: {error}"
    return found


def report(runs: Sequence[ScenarioRun], log_dir: Path, out: TextIO) -> bool:
    """Print the report; True when every scenario passed."""

    def mark(ok: bool) -> str:
        return "ok  " if ok else "FAIL"

    print("\nmail-lab demo: the scenarios of tests/scenarios, run on the lab\n", file=out)
    for scenario in runs:
        print(f"[{mark(scenario.ok)}] {scenario.name}: {scenario.proves}", file=out)
        for subtest in scenario.subtests:
            print(f"  [{mark(subtest.passed)}] {subtest.name} ({subtest.seconds:.1f} s)", file=out)
            if subtest.error:
                print(f"         error: {subtest.error}", file=out)
        if scenario.error and not any(s.error for s in scenario.subtests):
            print(f"  [FAIL] outside a subtest: {scenario.error}", file=out)
    print(
        f"\nlogs: {log_dir}/<machine>/ (commands.log; each unit's journal as <unit>.log and the"
        " daemons' /var/log once the lab is removed)",
        file=out,
    )
    passed = all(scenario.ok for scenario in runs)
    print(f"\n{'PASSED' if passed else 'FAILED'}\n", file=out)
    return passed


def run(world: World, out: TextIO = sys.stdout, scenarios: Sequence[Path] | None = None) -> int:
    """Run the scenarios (default: inbound, outbound) on `world` (up), print the report; 0 when
    all of them passed."""
    runs = [run_scenario(world, script) for script in (scenarios or default_scenarios())]
    return 0 if report(runs, world.state_dir / "logs", out) else 1
