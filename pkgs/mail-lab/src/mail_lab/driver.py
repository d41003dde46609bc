"""The NixOS test driver's globals for a lab, so scenario scripts run unchanged on it.

Scripts see each machine by name (`internet`, `gateway`, `home`, `remote`, `client`),
`machines`, `start_all`, `subtest`, `log`, `retry`, `t` (a unittest.TestCase for asserts),
`topology` (the JSON of tests/topology.nix) and `Machine`, and what the shared scripts define:
`mail/headers.py` (`header_values`, `authentication_results`, `received_peers`), which the VM tests'
testScript also runs first (tests/vm/default.nix).
"""

from __future__ import annotations

import contextlib
import os
import time
import unittest
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ptpython.repl import embed

from mail_lab.lab.world import World
from mail_lab.machine.api import Machine, log
from mail_lab.mail import headers

RETRY_INTERVAL = 1.0
# Plain scripts every test script runs after, in this order, in both drivers.
SHARED_SCRIPTS: tuple[Path, ...] = (Path(headers.__file__),)


class _Asserts(unittest.TestCase):
    def runTest(self) -> None:  # noqa: N802 - unittest's name
        """Only used for its assert methods."""


def retry(fn: Callable[[bool], bool], timeout: int = 900) -> None:
    """Call fn(False) once a second until it returns True; a last fn(True) may explain the failure."""
    for _ in range(int(timeout)):
        if fn(False):
            return
        time.sleep(RETRY_INTERVAL)
    if not fn(True):
        raise Exception(f"action timed out after {timeout} seconds")


@contextlib.contextmanager
def subtest(name: str) -> Iterator[None]:
    log(f"subtest: {name}")
    started = time.monotonic()
    try:
        yield
    except Exception:
        log(f"subtest failed: {name}")
        raise
    log(f"subtest passed: {name} ({time.monotonic() - started:.1f} s)")


@dataclass(frozen=True)
class SubtestResult:
    """How one subtest of a script ended: `error` is empty when it passed."""

    name: str
    seconds: float
    error: str = ""

    @property
    def passed(self) -> bool:
        return not self.error


def recorded_subtest(
    results: list[SubtestResult],
) -> Callable[[str], contextlib.AbstractContextManager[None]]:
    """`subtest` that also appends each subtest's result to `results`."""

    @contextlib.contextmanager
    def record(name: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            with subtest(name):
                yield
        except Exception as error:
            failure = f"{type(error).__name__}: {error}"
            results.append(SubtestResult(name, time.monotonic() - started, failure))
            raise
        results.append(SubtestResult(name, time.monotonic() - started))

    return record


def symbols(world: World) -> dict[str, Any]:
    machines = list(world.machines.values())

    def start_all() -> None:
        for machine in machines:
            machine.start()

    def join_all() -> None:
        """Machines of the lab have no VM process to wait for."""

    namespace: dict[str, Any] = {
        "machines": machines,
        "start_all": start_all,
        "join_all": join_all,
        "subtest": subtest,
        "log": log,
        "retry": retry,
        "t": _Asserts(),
        "topology": world.topology,
        "Machine": Machine,
        "driver": world,
        "os": os,
        "serial_stdout_on": lambda: None,
        "serial_stdout_off": lambda: None,
    }
    namespace.update({machine.name.replace("-", "_"): machine for machine in machines})
    _run(SHARED_SCRIPTS, namespace)
    return namespace


def _run(sources: Sequence[Path | str], namespace: dict[str, Any]) -> None:
    for source in sources:
        # Each file compiled under its own name, so tracebacks point at the right lines.
        exec(compile(Path(source).read_text(), str(source), "exec"), namespace)


def run_script(
    path: Path | str,
    world: World,
    prelude: Sequence[Path | str] = (),
    namespace: dict[str, Any] | None = None,
    subtests: list[SubtestResult] | None = None,
) -> None:
    """Run a test script (after `prelude` scripts, e.g. tests/scenarios/common.py) in one namespace.

    `namespace` (optional) receives the driver's globals and whatever the scripts define;
    `subtests` (optional) receives the result of each subtest, in order.
    """
    namespace = namespace if namespace is not None else {}
    namespace.update(symbols(world))
    if subtests is not None:
        namespace["subtest"] = recorded_subtest(subtests)
    _run([*prelude, path], namespace)


def interactive(world: World) -> None:
    """An interactive ptpython with the driver's globals, like `nixos-test-driver --interactive`."""
    history = world.state_dir / "shell-history"
    embed(globals=symbols(world), history_filename=str(history))
