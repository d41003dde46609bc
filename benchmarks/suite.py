"""The test suite's time, from the junit XML the README's test command writes.

    python -m benchmarks suite [--junit /tmp/mail-lab-suite.xml] [--output benchmarks/results/suite]

`tools/bootstrap.py test` (what CI runs) writes the run's junit XML (SUITE_REPORT there); this reads
it and writes results/suite/latest.{json,md,png}: pytest's wall time of the whole run (CI's goal:
under 10 minutes), the time of each stream (an xdist group, serial in its worker: the sum of its
tests' setup, call and teardown; tests/lab/conftest.py makes the streams), and as notes the
slowest files and tests. Nothing is asserted; the machine's load during the run is not in the XML.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from benchmarks.results import Goal, Results, machine_info, write_results

REPOSITORY = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPOSITORY / "benchmarks" / "results" / "suite"
CI_GOAL_SECONDS = 600.0
SLOWEST = 10


@dataclass(frozen=True)
class TestTime:
    file: str  # tests/lab/test_faults.py
    name: str  # the test's name without its stream
    stream: str  # the xdist group ("" without one)
    seconds: float  # setup + call + teardown


@dataclass(frozen=True)
class SuiteRun:
    started: str
    wall_seconds: float
    tests: list[TestTime]
    failures: int
    errors: int
    skipped: int


def test_command_report() -> Path:
    """Where the README's test command writes its junit XML (tools/bootstrap.py's SUITE_REPORT)."""
    spec = importlib.util.spec_from_file_location("bootstrap", REPOSITORY / "tools" / "bootstrap.py")
    assert spec is not None and spec.loader is not None
    bootstrap = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bootstrap)
    return Path(bootstrap.SUITE_REPORT)


def read_junit(path: Path) -> SuiteRun:
    root = ElementTree.parse(path).getroot()
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    if suite is None:
        raise ValueError(f"{path}: no <testsuite> element")
    tests = []
    for case in suite.iter("testcase"):
        name, _, stream = case.get("name", "").rpartition("@")
        if not name:  # no xdist group
            name, stream = stream, ""
        module = case.get("classname", "").split(".")
        # classname is the module's dotted path, plus the class for a test in a class.
        parts = module[:-1] if module and module[-1][:1].isupper() else module
        tests.append(TestTime("/".join(parts) + ".py", name, stream, float(case.get("time", "0"))))
    return SuiteRun(
        started=suite.get("timestamp", ""),
        wall_seconds=float(suite.get("time", "0")),
        tests=tests,
        failures=int(suite.get("failures", "0")),
        errors=int(suite.get("errors", "0")),
        skipped=int(suite.get("skipped", "0")),
    )


def suite_results(run: SuiteRun) -> Results:
    machine = machine_info()
    for key in ("load_average_at_start", "date"):
        machine.pop(key, None)
    results = Results(
        machine=machine,
        settings={
            "runs": 1,
            "tests": len(run.tests),
            "failures": run.failures,
            "errors": run.errors,
            "skipped": run.skipped,
        },
        started=run.started,
        complete=True,
    )
    ci_goal = Goal("<=", CI_GOAL_SECONDS)
    wall = results.figure("suite.wall", "test suite, wall time (pytest)", "s", "suite", goal=ci_goal)
    wall.add(run.wall_seconds)
    streams: dict[str, float] = collections.defaultdict(float)
    counts: collections.Counter[str] = collections.Counter()
    for test in run.tests:
        streams[test.stream] += test.seconds
        counts[test.stream] += 1
    for stream, seconds in sorted(streams.items(), key=lambda item: -item[1]):
        title = f"stream {stream or '(no group)'} ({counts[stream]} tests, one after another)"
        results.figure(f"suite.stream.{stream or 'none'}", title, "s", "suite").add(seconds)
    files: dict[str, float] = collections.defaultdict(float)
    for test in run.tests:
        files[test.file] += test.seconds
    results.notes.append(
        f"{len(run.tests)} tests, {run.failures} failed, {run.errors} errors, {run.skipped} skipped."
    )
    slowest_files = sorted(files.items(), key=lambda item: -item[1])[:SLOWEST]
    results.notes.append("Slowest files: " + ", ".join(f"{file} {sec:.0f} s" for file, sec in slowest_files))
    slowest = sorted(run.tests, key=lambda test: -test.seconds)[:SLOWEST]
    results.notes.append(
        "Slowest tests: " + ", ".join(f"{test.file}::{test.name} {test.seconds:.0f} s" for test in slowest)
    )
    results.settings["stream_seconds"] = {stream: round(seconds, 1) for stream, seconds in streams.items()}
    results.settings["file_seconds"] = {
        file: round(seconds, 1) for file, seconds in sorted(files.items(), key=lambda item: -item[1])
    }
    return results


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks suite", description=__doc__.split("\n\n")[0])
    parser.add_argument("--junit", type=Path, default=test_command_report(), help="the run's junit XML")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR, help="where latest.{json,md,png} go")
    args = parser.parse_args(argv)
    results = suite_results(read_junit(args.junit))
    paths = write_results(results, args.output)
    print("wrote " + ", ".join(str(p) for p in paths.values()))
    return 0
