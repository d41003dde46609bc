"""The full lab with its mail daemons, brought up once per test session and shared, and the scan
of the daemons' logs.

Tests that only read or send mail use `mail_world`; the scenario tests (test_scenarios.py) run
last among its users because they restart the namespace and order certificates.

After each test module (and once more after the shared lab is torn down), the error and warning
lines the daemons logged meanwhile, in any lab, fail it unless the allow-list of
mail_lab.lab.daemon_logs explains them (`daemon_log_scan`: what the module's scan has read so far).
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
    """Fails the module on the daemons' error and warning lines logged while it ran (but those its
    tests provoke on purpose and declare with `LogScan.expect`)."""
    LOG_SCAN.skip_to_end()
    yield LOG_SCAN
    try:
        _fail_on_log_problems(f"during {request.node.name}")
    finally:
        LOG_SCAN.forget_expected()


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Orders the disruptive modules last, and makes the suite two serial streams side by side
    (`bootstrap.py test` runs pytest-xdist with two workers, `--dist loadgroup`): the lab's tests,
    which mostly wait on daemons and share one lab and its fixed prefixes, and everything else,
    which mostly computes. First among the hooks, because xdist reads the groups in its own."""
    for item in items:
        stream = "lab" if LAB_TESTS in item.path.parents else "computing"
        item.add_marker(pytest.mark.xdist_group(stream))
    items.sort(key=lambda item: item.path.name in DISRUPTIVE_MODULES)  # stable: order otherwise kept


@pytest.fixture(scope="session")
def mail_world() -> Iterator[World]:
    require_lab(services=True)
    world = World.up(prefix=MAIL_WORLD_PREFIX)
    try:
        yield world
    finally:
        world.down()
