"""`mail-lab demo` on the shared mail lab: it runs the inbound and outbound scenarios and reports
each subtest; a failed check fails the demo and is named in the report."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from mail_lab import demo
from mail_lab.lab.world import World

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def expected_subtests(world: World) -> list[str]:
    """The subtests of tests/scenarios/{inbound,outbound}.py, in order, by the start of their name."""
    doctor = ["home-mail-doctor on gateway", "home-mail-doctor on home"]
    domains = world.topology["world"]["remoteDomains"]
    return [
        "inbound over ipv4: ",
        "inbound over ipv6: ",
        "inbound through DNS: ",
        *doctor,
        *(f"outbound to {domain} (" for domain in domains),
        *doctor,
    ]


def test_the_demo_runs_the_scenarios_and_reports_each_subtest(mail_world: World) -> None:
    out = io.StringIO()
    status = demo.run(mail_world, out=out)
    report = out.getvalue()
    assert status == 0, report
    assert "[ok  ] inbound: Inbound: the internet reaches home's mail server" in report, report
    assert "[ok  ] outbound: Outbound: a client submits to home" in report, report
    subtests = re.findall(r"^  \[(ok  |FAIL)\] (.*) \([0-9.]+ s\)$", report, flags=re.MULTILINE)
    expected = expected_subtests(mail_world)
    assert len(subtests) == len(expected), report
    for (mark, name), start in zip(subtests, expected, strict=True):
        assert mark == "ok  " and name.startswith(start), report
    assert f"logs: {mail_world.state_dir / 'logs'}/<machine>/" in report, report
    assert report.rstrip().endswith("PASSED") and "FAIL" not in report, report


def test_a_failed_check_fails_the_demo_and_is_reported(mail_world: World, tmp_path: Path) -> None:
    failing = tmp_path / "failing.py"
    failing.write_text(
        "# Failing: one check holds, the next does not.\n"
        'with subtest("a check that holds"):\n'
        '    home.succeed("true")\n'
        'with subtest("a check that does not"):\n'
        '    assert False, "the reason it failed"\n'
        'with subtest("never reached"):\n'
        "    pass\n"
    )
    broken = tmp_path / "broken.py"
    broken.write_text("# Broken: fails outside a subtest.\nraise RuntimeError('no subtest ran')\n")
    out = io.StringIO()
    status = demo.run(mail_world, out=out, scenarios=[failing, broken])
    report = out.getvalue()
    assert status == 1, report
    assert "[FAIL] failing: Failing: one check holds, the next does not." in report, report
    assert "  [ok  ] a check that holds (" in report, report
    assert "  [FAIL] a check that does not (" in report, report
    assert "         error: AssertionError: the reason it failed" in report, report
    assert "never reached" not in report, report
    assert "[FAIL] broken: Broken: fails outside a subtest." in report, report
    assert "  [FAIL] outside a subtest: RuntimeError: no subtest ran" in report, report
    assert report.rstrip().endswith("FAILED"), report
