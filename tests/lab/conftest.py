"""The full lab with its mail daemons, brought up once per test session and shared.

Tests that only read or send mail use `mail_world`; the scenario tests (test_scenarios.py) run
last among its users because they restart the namespace and order certificates.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from lab_support import require_lab

from mail_lab.world import World

MAIL_WORLD_PREFIX = "mlb-"
# Run after the other users of `mail_world`: they restart the namespace and order certificates.
DISRUPTIVE_MODULES = ("test_scenarios.py",)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(key=lambda item: item.path.name in DISRUPTIVE_MODULES)  # stable: order otherwise kept


@pytest.fixture(scope="session")
def mail_world() -> Iterator[World]:
    require_lab(services=True)
    world = World.up(prefix=MAIL_WORLD_PREFIX)
    try:
        yield world
    finally:
        world.down()
