"""Evaluate Nix expressions with the real evaluator (`nix-instantiate`), for the tests.

    eval_json('(import ./lib).netnsUnitName "wg"')          # -> "netns@wg.service"
    eval_error('(import ./lib).homePlanStrict { }')          # -> the error text
    eval_json(f"(import ./lib).ip.normalizeAddress {nix_value(text)}")

Expressions are evaluated with the repository as working directory, so `./lib` and
`./tests/topology.nix` resolve. Only Nix itself is needed; nixpkgs is not.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from mail_lab.commands import capture

REPO = Path(__file__).resolve().parents[2]
# Debian's nix-bin names a build-users group that does not exist; evaluation never builds.
NIX_ENVIRONMENT = {**os.environ, "NIX_CONFIG": "build-users-group ="}
EVALUATION_TIMEOUT_SECONDS = 120


class NixEvaluationError(Exception):
    """nix-instantiate failed; the message is its error output."""


def _run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return capture(argv, cwd=cwd, env=NIX_ENVIRONMENT, timeout=EVALUATION_TIMEOUT_SECONDS)


def _error_text(stderr: str) -> str:
    """stderr without the evaluator's warnings."""
    return "\n".join(line for line in stderr.splitlines() if not line.startswith("warning:")).strip()


def eval_json(expr: str, *, cwd: Path = REPO) -> Any:
    """The value of a Nix expression, evaluated strictly and returned as parsed JSON."""
    result = _run(["nix-instantiate", "--eval", "--strict", "--json", "--expr", expr], cwd)
    if result.returncode != 0:
        raise NixEvaluationError(_error_text(result.stderr))
    return json.loads(result.stdout)


def eval_error(expr: str, *, cwd: Path = REPO) -> str:
    """The error text of a Nix expression that must fail to evaluate (AssertionError if it does not)."""
    result = _run(["nix-instantiate", "--eval", "--strict", "--json", "--expr", expr], cwd)
    if result.returncode == 0:
        raise AssertionError(f"expected the evaluation to fail, but it gave {result.stdout.strip()}")
    return _error_text(result.stderr)


def thrown_messages(error_text: str) -> list[str]:
    """The lines of a `throw` as nix-instantiate prints them: "error: " first, the rest indented."""
    body = re.sub(r"^error: ", "", error_text)
    return [line.strip() for line in body.splitlines() if line.strip()]


def parse_error(path: Path) -> str | None:
    """None when the file parses as Nix, otherwise the parser's complaint."""
    result = _run(["nix-instantiate", "--parse", str(path)], path.parent)
    return None if result.returncode == 0 else _error_text(result.stderr)


def nix_string(text: str) -> str:
    """A Nix string literal holding `text`."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"').replace("${", "\\${")
    return f'"{escaped}"'


def nix_value(value: object) -> str:
    """A Nix expression for a JSON-like Python value (dicts, lists, strings, numbers, bools, None)."""
    return f"(builtins.fromJSON {nix_string(json.dumps(value))})"


@functools.cache
def nix_available() -> bool:
    return shutil.which("nix-instantiate") is not None


@functools.cache
def nixpkgs_lib_available() -> bool:
    """Whether `<nixpkgs/lib>` resolves (for tests of the modules; the core does not need it)."""
    try:
        eval_json("(import <nixpkgs/lib>).version")
    except (NixEvaluationError, subprocess.TimeoutExpired, FileNotFoundError):
        return False
    return True


# Marks for the tests that need Nix, or nixpkgs' lib besides (the modules' tests), to skip them
# with the reason where it is missing.
needs_nix = pytest.mark.skipif(not nix_available(), reason="nix-instantiate is not installed")
needs_nixpkgs_lib = pytest.mark.skipif(
    not (nix_available() and nixpkgs_lib_available()),
    reason="nix-instantiate is not installed or <nixpkgs/lib> does not resolve "
    "(set nix-path = nixpkgs=<a nixpkgs lib checkout>)",
)
