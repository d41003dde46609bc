"""Apply each deliberate bug of catalogue.py to a temporary copy of the repository and run the tests
that must catch it there; report the mutations no test caught. The real tree is never written.

    .venv/bin/python tests/mutations/harness.py            # the fast tests of every mutation
    .venv/bin/python tests/mutations/harness.py --lab      # and their lab tests (takes the lab lock)
    .venv/bin/python tests/mutations/harness.py -k 8080    # only mutations whose name contains "8080"

A mutation counts as caught when its tests fail in the mutated copy after they passed in an
unmutated copy (the baseline, one run for all selected tests).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from xml.etree import ElementTree

from catalogue import MUTATIONS, Mutation

from mail_lab.commands import capture

REPO = Path(__file__).resolve().parents[2]
# Not needed by the tests and large or machine-specific.
NOT_COPIED = (".git", ".venv", "__pycache__", ".mypy_cache", ".ruff_cache", ".pytest_cache", "results")
RUN_TIMEOUT_SECONDS = 900
LAB_LOCK = "/tmp/mail-lab.lock"
# Lab machines get a private /tmp, /run and /var/tmp: a copy their units run from must be elsewhere.
LAB_SCRATCH_PARENT = "/var/cache"


class MutationError(Exception):
    """A mutation that cannot be applied, or tests that do not run cleanly unmutated."""


@dataclass(frozen=True)
class Outcome:
    """One pytest run: its exit status and how many tests failed, passed and were skipped."""

    status: int
    failed: int
    passed: int
    skipped: int
    output: str

    @property
    def all_skipped(self) -> bool:
        return self.status == 0 and self.passed == 0 and self.skipped > 0


def copy_of_repository(destination: Path) -> Path:
    tree = destination / "repo"
    shutil.copytree(REPO, tree, ignore=shutil.ignore_patterns(*NOT_COPIED), symlinks=True)
    return tree


def apply(mutation: Mutation, tree: Path) -> None:
    path = tree / mutation.path
    text = path.read_text()
    found = text.count(mutation.old)
    if found != 1:
        raise MutationError(
            f"mutation {mutation.name!r}: its snippet occurs {found} times in {mutation.path}, not once; "
            "update tests/mutations/catalogue.py to the current code"
        )
    path.write_text(text.replace(mutation.old, mutation.new))


def run_tests(tree: Path, tests: Iterable[str], *, lab: bool = False) -> Outcome:
    report = tree / "mutation-report.xml"
    command = [sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider", f"--junitxml={report}"]
    command += list(tests)
    if lab:
        command = ["flock", LAB_LOCK, *command]
    environment = {**os.environ, "MAIL_LAB_REPO": str(tree)}
    result = capture(command, cwd=tree, env=environment, timeout=RUN_TIMEOUT_SECONDS)
    counts = {"failed": 0, "passed": 0, "skipped": 0}
    if report.exists():
        suite = ElementTree.parse(report).getroot().find("testsuite")
        if suite is not None:
            failed = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skipped = int(suite.get("skipped", 0))
            counts = {
                "failed": failed,
                "passed": int(suite.get("tests", 0)) - failed - skipped,
                "skipped": skipped,
            }
        report.unlink()
    return Outcome(result.returncode, output=result.stdout + result.stderr, **counts)


def suites_of(mutation: Mutation, lab: bool) -> dict[str, tuple[str, ...]]:
    """The mutation's fast tests and, with `lab`, its lab tests (tried on their own: the fast
    ones, which fail first, must not hide a lab test that would not)."""
    suites = {"fast": mutation.fast_tests}
    if lab and mutation.lab_tests:
        suites["lab"] = mutation.lab_tests
    return suites


def baseline(mutations: Iterable[Mutation], lab: bool, scratch: Path) -> Outcome:
    """The selected tests on an unmutated copy; they must pass (or skip, e.g. without root)."""
    tests = sorted(
        {test for mutation in mutations for suite in suites_of(mutation, lab).values() for test in suite}
    )
    outcome = run_tests(copy_of_repository(scratch), tests, lab=lab)
    if outcome.status != 0:
        raise MutationError(f"the selected tests fail without any mutation:\n{outcome.output[-4000:]}")
    return outcome


def try_mutation(mutation: Mutation, scratch: Path, *, lab: bool = False) -> dict[str, Outcome]:
    """Each suite of the mutation (suites_of) run on one fresh mutated copy in `scratch`."""
    tree = copy_of_repository(scratch)
    apply(mutation, tree)
    return {
        suite: run_tests(tree, tests, lab=suite == "lab") for suite, tests in suites_of(mutation, lab).items()
    }


def caught(outcome: Outcome) -> bool:
    """pytest exits 1 when tests failed; any other status is no catch (0) or a broken run."""
    if outcome.status not in (0, 1):
        raise MutationError(f"pytest exited {outcome.status}:\n{outcome.output[-4000:]}")
    return outcome.status == 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lab", action="store_true", help="also run each mutation's lab tests")
    parser.add_argument("-k", dest="name", default="", help="only mutations whose name contains this")
    args = parser.parse_args(argv)
    selected = [mutation for mutation in MUTATIONS if args.name in mutation.name]
    survivors: list[str] = []
    parent = LAB_SCRATCH_PARENT if args.lab else None
    with tempfile.TemporaryDirectory(prefix="home-mail-mutations-", dir=parent) as scratch:
        baseline(selected, args.lab, Path(scratch) / "baseline")
        for index, mutation in enumerate(selected):
            for suite, outcome in try_mutation(mutation, Path(scratch) / str(index), lab=args.lab).items():
                verdict = "caught" if caught(outcome) else "NOT CAUGHT"
                if outcome.all_skipped:
                    verdict = "not tried (its tests skipped)"
                if verdict != "caught":
                    survivors.append(f"{mutation.name} ({suite})")
                print(f"{verdict:>12}  {suite:<4}  {mutation.name}", flush=True)
    print(f"{len(selected)} mutations; not caught: {', '.join(survivors) or 'none'}")
    return 1 if survivors else 0


if __name__ == "__main__":
    raise SystemExit(main())
