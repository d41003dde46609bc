"""The benchmarks' result files (benchmarks/results.py) from a small made-up measurement set.

No lab and no timing: the figures here are invented; what is checked is what the files say.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import figures, measure, run, suite
from benchmarks.direct_link import DirectLink
from benchmarks.results import Goal, Results, markdown, write_results
from mail_lab.lab.safety import SafetyError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def made_up_results() -> Results:
    results = Results(
        machine={"cpu": "Test CPU", "cores": 2, "kernel": "6.1", "os": "Debian", "memory_gib": 4.0},
        settings={"runs": 3, "quick": False},
        started="2026-01-01T00:00:00Z",
        complete=True,
    )
    for value in (120.0, 100.0, 110.0):
        results.figure("mail.small.tunnel", "mail, small, tunnel", "msg/s", "mail").add(value)
    ratio = results.figure("mail.small.ratio", "tunnel / direct", "ratio", "ratio", goal=Goal(">=", 0.9))
    for value in (0.8, 0.95, 0.85):
        ratio.add(value)
    recovery = results.figure("recovery.nofix", "recovery", "s", "recovery", goal=Goal("<=", 5), bound=60)
    for value in (60.0, 60.0, 12.5):
        recovery.add(value)
    results.figure("lab.up", "bring-up", "s", "lab", goal=Goal("<=", 5))  # never measured
    return results


def table_row(text: str, title: str) -> list[str]:
    rows = [line for line in text.splitlines() if line.startswith(f"| {title} |")]
    assert len(rows) == 1, text
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


def test_summaries_goals_and_bounds() -> None:
    results = made_up_results()
    mail, ratio, recovery, never = results.figures
    summary = mail.summary()
    assert summary is not None
    assert (summary.minimum, summary.median, summary.maximum, summary.runs) == (100.0, 110.0, 120.0, 3)
    assert ratio.goal_status() == "≥ 0.9: not met"  # median 0.85
    # The median run did not recover within the bound: the goal is not met, whatever the number.
    assert recovery.goal_status() == "≤ 5: not met"
    assert recovery.shown(60.0) == "> 60.0"
    assert never.summary() is None
    assert never.goal_status() == "≤ 5: not measured"


def test_written_files(tmp_path: Path) -> None:
    results = made_up_results()
    paths = write_results(results, tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["latest.json", "latest.md", "latest.png"]

    data = json.loads(paths["json"].read_text())
    assert data["machine"]["cpu"] == "Test CPU"
    by_key = {figure["key"]: figure for figure in data["figures"]}
    assert [f["key"] for f in data["figures"]] == [
        "mail.small.tunnel",
        "mail.small.ratio",
        "recovery.nofix",
        "lab.up",
    ]
    assert (by_key["mail.small.tunnel"]["min"], by_key["mail.small.tunnel"]["median"]) == (100.0, 110.0)
    assert by_key["recovery.nofix"]["at_bound"] == 2
    assert by_key["lab.up"]["runs"] == 0
    again = Results.from_json(data)
    assert [f.values for f in again.figures] == [f.values for f in results.figures]
    assert markdown(again) == paths["md"].read_text()

    text = paths["md"].read_text()
    assert "Test CPU, 2 cores" in text
    assert table_row(text, "mail, small, tunnel") == [
        "mail, small, tunnel",
        "msg/s",
        "100",
        "110",
        "120",
        "3",
        "",
    ]
    assert table_row(text, "recovery")[2:6] == ["12.5", "> 60.0", "> 60.0", "3"]
    assert table_row(text, "bring-up")[2:7] == ["-", "-", "-", "0", "≤ 5: not measured"]

    image = paths["png"].read_bytes()
    assert image.startswith(PNG_SIGNATURE)
    assert len(image) > 10_000


def test_incomplete_run_is_marked() -> None:
    results = made_up_results()
    results.complete = False
    results.notes.append("The run stopped early: KeyboardInterrupt")
    text = markdown(results)
    assert "**incomplete run**" in text
    assert text.rstrip().endswith("- The run stopped early: KeyboardInterrupt")


def test_percentiles() -> None:
    values = [float(v) for v in range(1, 21)]
    assert measure.percentile(values, 50) == 10.5
    assert measure.percentile(values, 95) == pytest.approx(19.05)
    assert measure.percentile([7.0], 95) == 7.0


def test_scenarios_as_the_lab_tests_run_them() -> None:
    names = measure.scenario_names()
    files = {p.stem for p in measure.SCENARIOS_DIR.glob("*.py")} - {"common"}
    assert set(names) == files
    assert names[-1] == "restart"


def test_direct_link_refuses_other_than_documentation_addresses() -> None:
    DirectLink(remote_ipv4="192.0.2.10", remote_ipv6="2001:db8:3::10")
    with pytest.raises(SafetyError):
        DirectLink(remote_ipv4="10.0.0.10", remote_ipv6="2001:db8:3::10")
    with pytest.raises(SafetyError):
        DirectLink(remote_ipv4="192.0.2.10", remote_ipv6="2001:db8:3::10", home_ipv6="fd00::211")


def test_arguments() -> None:
    quick = figures.Settings.from_arguments(run.parse_arguments(["--quick", "--only", "nix,lab"]))
    assert (quick.runs, quick.phases) == (2, ("lab", "nix"))
    full = figures.Settings.from_arguments(run.parse_arguments([]))
    assert (full.runs, full.phases) == (5, figures.PHASES)
    with pytest.raises(SystemExit):
        run.parse_arguments(["--only", "mail,speed"])
    with pytest.raises(SystemExit):
        run.parse_arguments(["--runs", "0"])


JUNIT = """<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests"><testsuite name="pytest"
 errors="0" failures="1" skipped="0" tests="4" time="300.5" timestamp="2026-01-01T00:00:00+00:00">
<testcase classname="tests.lab.test_faults" name="test_tunnel@lab" time="120.0" />
<testcase classname="tests.lab.test_faults" name="test_crash@lab" time="30.0" />
<testcase classname="tests.lab.test_cli_errors.TestRoot" name="test_root[a]@other" time="40.0" />
<testcase classname="tests.nix.test_plan" name="test_plan@other" time="2.5" />
</testsuite></testsuites>"""


def test_the_suite_figures_are_the_runs_wall_time_and_each_streams_tests(tmp_path: Path) -> None:
    report = tmp_path / "suite.xml"
    report.write_text(JUNIT)
    results = suite.suite_results(suite.read_junit(report))
    assert {f.key: (f.title, f.values) for f in results.figures} == {
        "suite.wall": ("test suite, wall time (pytest)", [300.5]),
        "suite.stream.lab": ("stream lab (2 tests, one after another)", [150.0]),
        "suite.stream.other": ("stream other (2 tests, one after another)", [42.5]),
    }
    assert results.notes == [
        "4 tests, 1 failed, 0 errors, 0 skipped.",
        "Slowest files: tests/lab/test_faults.py 150 s, tests/lab/test_cli_errors.py 40 s,"
        " tests/nix/test_plan.py 2 s",
        "Slowest tests: tests/lab/test_faults.py::test_tunnel 120 s,"
        " tests/lab/test_cli_errors.py::test_root[a] 40 s,"
        " tests/lab/test_faults.py::test_crash 30 s, tests/nix/test_plan.py::test_plan 2 s",
    ]
    assert suite.main(["--junit", str(report), "--output", str(tmp_path / "out")]) == 0
    assert (
        "| test suite, wall time (pytest) | s | 300 | 300 | 300 | 1 | ≤ 600: met |"
        in (tmp_path / "out" / "latest.md").read_text()
    )


def test_the_suite_report_is_where_the_test_command_writes_it() -> None:
    assert suite.test_command_report() == Path("/tmp/mail-lab-suite.xml")
