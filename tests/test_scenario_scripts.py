"""The shared scenario scripts are valid test-driver scripts: they parse, pass pyflakes and mypy.

nixpkgs' driver lints and type-checks a VM test's script when it runs; this checks the same here
against a typed stand-in of the driver's symbols (tests/scenarios/stubs/driver_symbols.pyi).
"""

import subprocess
import sys
from pathlib import Path

import pytest

from mail_lab.driver import SHARED_SCRIPTS
from mail_lab.lab import daemon_logs

SCENARIOS = Path(__file__).parent / "scenarios"
SCENARIO_FILES = sorted(path for path in SCENARIOS.glob("*.py") if path.name != "common.py")
# Each VM test's scenarios: one per scenario file, and vm-plain's two in one script
# (tests/vm/default.nix).
SCRIPTS = {path.stem: [path] for path in SCENARIO_FILES} | {
    "plain": [SCENARIOS / "inbound.py", SCENARIOS / "outbound.py"]
}
# The VM tests' last step and the rules it runs (before common.py): see tests/vm/default.nix.
VM_LOG_CHECK = Path(__file__).parent / "vm" / "daemon_logs.py"
DAEMON_LOG_RULES = Path(daemon_logs.__file__)
HEADER = "from driver_symbols import *  # noqa: F403\n"


def assembled_script(scenarios: list[Path]) -> str:
    """What a VM test runs: the shared scripts (mail/headers.py, the daemon log rules, common.py),
    then the scenarios, then the check of the daemons' journals."""
    shared = [*SHARED_SCRIPTS, DAEMON_LOG_RULES, SCENARIOS / "common.py"]
    return "".join(path.read_text() + "\n" for path in shared) + "\n".join(
        path.read_text() for path in [*scenarios, VM_LOG_CHECK]
    )


@pytest.fixture(params=sorted(SCRIPTS))
def script_file(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    name: str = request.param
    path = tmp_path / f"{name}_script.py"
    path.write_text(HEADER + assembled_script(SCRIPTS[name]))
    return path


def test_there_are_scenarios() -> None:
    assert {path.stem for path in SCENARIO_FILES} >= {"inbound", "outbound", "isolation", "restart"}


def test_pyflakes_finds_nothing(script_file: Path) -> None:
    # pyflakes cannot see star-imported names; the drivers inject them, so those reports are noise.
    result = subprocess.run(
        [sys.executable, "-m", "pyflakes", str(script_file)], capture_output=True, text=True, check=False
    )
    problems = [
        line
        for line in result.stdout.splitlines()
        if "may be undefined, or defined from star imports" not in line and "import *" not in line
    ]
    assert problems == [], "\n".join(problems)


def test_mypy_accepts(script_file: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--no-incremental", "--ignore-missing-imports", str(script_file)],
        capture_output=True,
        text=True,
        check=False,
        env={"MYPYPATH": str(SCENARIOS / "stubs"), "PATH": "/usr/bin:/bin"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
