"""The project's Python is ruff clean, formatted, and passes mypy --strict."""

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
PYTHON_TREES = ["pkgs/mail-lab/src", "pkgs/home-mail-doctor/src", "tests", "tools", "benchmarks"]


def existing_trees() -> list[str]:
    return [tree for tree in PYTHON_TREES if (REPO / tree).exists()]


def run_tool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", *argv], cwd=REPO, capture_output=True, text=True, check=False
    )


def test_ruff_check() -> None:
    result = run_tool("ruff", "check", *existing_trees())
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run_tool("ruff", "format", "--check", *existing_trees())
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = run_tool("mypy", "--strict", *existing_trees())
    assert result.returncode == 0, result.stdout + result.stderr
