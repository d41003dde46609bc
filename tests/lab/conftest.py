"""The full lab with its mail daemons, brought up once per test session and shared, the scan
of the daemons' logs, and the suite's two streams.

Tests that only read or send mail use `mail_world`; the scenario tests (test_scenarios.py) run
last among its users because they restart the namespace and order certificates.

After each test module (and once more after the shared lab is torn down), the error and warning
lines the daemons logged meanwhile, in any lab of the module's stream, fail it unless the
allow-list of mail_lab.lab.daemon_logs explains them (`daemon_log_scan`: what the module's scan
has read so far).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from lab_support import require_lab

from mail_lab.lab.log_scan import LogScan
from mail_lab.lab.world import World

MAIL_WORLD_PREFIX = "mlb-"
LAB_TESTS = Path(__file__).parent
# Run after the other users of `mail_world`: they restart the namespace and order certificates.
DISRUPTIVE_MODULES = ("test_scenarios.py",)
# The lab's modules that run in the second stream, beside the shared lab: each brings up labs of
# its own, under its module's PREFIX, which no module of the first stream uses, and shares only
# the read-only cached tree with it. The first stream keeps `mail_world`'s users, test_faults and
# the lab's lifecycle (test_lab_lifecycle, test_lab_network: beside test_faults' mail burst, a
# `mail-lab up` of test_lab_lifecycle once took longer than the 30 s it waits).
SECOND_STREAM_MODULES = frozenset(
    {
        "test_security.py",
        "test_cli_errors.py",
        "test_acme.py",
        "test_container.py",
        "test_container_units.py",
        "test_container_services.py",
        "test_systemd_machine.py",
    }
)
# The prefixes of the second stream's labs (their modules' PREFIX), found at collection.
SECOND_STREAM_PREFIXES: set[str] = set()


def in_second_stream(prefix: str) -> bool:
    return prefix in SECOND_STREAM_PREFIXES


def in_first_stream(prefix: str) -> bool:
    return prefix not in SECOND_STREAM_PREFIXES


# One scan for the session: what a module's scan read, the next one does not report again.
LOG_SCAN = LogScan()


def _fail_on_log_problems(when: str) -> None:
    problems = LOG_SCAN.problems()
    if problems:
        pytest.fail(
            f"the daemons logged errors or warnings {when} that mail_lab.lab.daemon_logs does not allow:\n"
            + "\n".join(problems),
            pytrace=False,
        )


@pytest.fixture(scope="session", autouse=True)
def daemon_logs_clean_at_the_end() -> Iterator[None]:
    """The shared lab's teardown comes after the last module's scan: scan once more after it."""
    yield
    _fail_on_log_problems("while the shared lab was torn down")


@pytest.fixture(scope="module", autouse=True)
def daemon_log_scan(request: pytest.FixtureRequest) -> Iterator[LogScan]:
    """Fails the module on the daemons' error and warning lines logged while it ran in the labs of
    its stream (but those its tests provoke on purpose and declare with `LogScan.expect`); the
    other stream's labs are another process's to scan."""
    second = request.path.name in SECOND_STREAM_MODULES
    LOG_SCAN.labs = in_second_stream if second else in_first_stream
    LOG_SCAN.skip_to_end()
    yield LOG_SCAN
    try:
        _fail_on_log_problems(f"during {request.node.name}")
    finally:
        LOG_SCAN.forget_expected()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Orders the disruptive modules last, and makes the suite two serial streams side by side
    (`bootstrap.py test` runs pytest-xdist with two workers, `--dist loadgroup`), each of about
    the same length: the shared lab's tests and test_faults, which mostly wait on daemons, and
    everything else: the lab's modules with labs of their own (SECOND_STREAM_MODULES) and the
    tests that need no lab, which mostly compute. First among the hooks, because xdist reads the
    groups in its own."""
    for item in items:
        first = LAB_TESTS in item.path.parents and item.path.name not in SECOND_STREAM_MODULES
        item.add_marker(pytest.mark.xdist_group("lab" if first else "other"))
        prefix = getattr(getattr(item, "module", None), "PREFIX", None)
        if item.path.name in SECOND_STREAM_MODULES and isinstance(prefix, str):
            SECOND_STREAM_PREFIXES.add(prefix)
    items.sort(key=lambda item: item.path.name in DISRUPTIVE_MODULES)  # stable: order otherwise kept


@pytest.fixture(scope="session")
def mail_world() -> Iterator[World]:
    require_lab(services=True)
    world = World.up(prefix=MAIL_WORLD_PREFIX)
    try:
        yield world
    finally:
        world.down()
