"""The end-to-end scenarios of tests/scenarios/, run unchanged on the lab through its driver.

The same script files are the testScript of the NixOS VM tests (tests/vm); here each runs after
common.py in a fresh namespace of driver globals, on the shared mail lab (conftest.py). `restart`
runs last: it replaces the namespace under every confined service.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from mail_lab.driver import run_script
from mail_lab.lab.world import World

SCENARIOS_DIR = Path(__file__).resolve().parent.parent / "scenarios"
COMMON = SCENARIOS_DIR / "common.py"
SCENARIOS = ["inbound", "outbound", "isolation", "acme", "restart"]
pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_every_scenario_file_is_run_here() -> None:
    files = {p.stem for p in SCENARIOS_DIR.glob("*.py")} - {"common"}
    assert files == set(SCENARIOS), f"tests/scenarios has {sorted(files)}; run each here"


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_scenario(scenario: str, mail_world: World) -> None:
    run_script(SCENARIOS_DIR / f"{scenario}.py", mail_world, prelude=[COMMON])
