"""The test world and the role plans, as computed by the project's Nix code.

`load_topology` evaluates `tests/topology.nix` (which calls `lib/`) with
`nix-instantiate --eval --strict --json` and returns its JSON:
`{ world, gatewayIntent, homeIntent, plans = { gateway, home } }` (docs/design.md).
`overrides` (a Python mapping) is passed as the Nix expression `--arg overrides { ... }`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mail_lab.commands import capture
from mail_lab.errors import LabError

REPO_ENV = "MAIL_LAB_REPO"
NIX_TIMEOUT = 120.0
TOP_LEVEL_KEYS = ("world", "gatewayIntent", "homeIntent", "plans")


class PlanError(LabError, RuntimeError):
    """The Nix evaluation failed or returned something that is not a topology."""


def repository_root() -> Path:
    """The project checkout: $MAIL_LAB_REPO, else found upwards from this package."""
    configured = os.environ.get(REPO_ENV)
    if configured:
        return Path(configured)
    for parent in Path(__file__).resolve().parents:
        if (parent / "tests" / "topology.nix").is_file() and (parent / "lib").is_dir():
            return parent
    raise PlanError(f"cannot find the repository (tests/topology.nix); set {REPO_ENV}")


def nix_expression(value: Any) -> str:
    """`value` (JSON-like Python data) as a Nix expression."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a valid Nix string once "${" cannot start an interpolation.
        return json.dumps(value).replace("${", "\\${")
    if isinstance(value, list | tuple):
        return "[ " + " ".join(f"({nix_expression(item)})" for item in value) + " ]"
    if isinstance(value, Mapping):
        return (
            "{ " + " ".join(f"{json.dumps(str(k))} = {nix_expression(v)};" for k, v in value.items()) + " }"
        )
    raise TypeError(f"cannot express {type(value).__name__} in Nix")


def evaluate(topology_file: Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    text = nix_eval_json(
        [str(topology_file), "--arg", "overrides", nix_expression(overrides or {})], str(topology_file)
    )
    return parse(text, str(topology_file))


def nix_eval_json(arguments: list[str], source: str) -> str:
    """`nix-instantiate --eval --strict --json <arguments>`'s output; PlanError naming `source`."""
    argv = ["nix-instantiate", "--eval", "--strict", "--json", *arguments]
    # Debian's nix-bin names a build group that does not exist; evaluation does not need it.
    env = {**os.environ, "NIX_CONFIG": os.environ.get("NIX_CONFIG", "build-users-group =")}
    if shutil.which(argv[0], path=env.get("PATH")) is None:
        raise PlanError("nix-instantiate not found: install the Debian package nix-bin")
    with contextlib.ExitStack() as stack:
        if os.geteuid() != 0 and "NIX_STATE_DIR" not in env:
            # Run as a user, Nix would fix up root's /nix/var/nix and fail; evaluation keeps no state.
            env["NIX_STATE_DIR"] = stack.enter_context(tempfile.TemporaryDirectory(prefix="mail-lab-nix-"))
        try:
            result = capture(argv, timeout=NIX_TIMEOUT, env=env)
        except FileNotFoundError:
            raise PlanError("nix-instantiate not found: install the Debian package nix-bin") from None
        except OSError as error:
            raise PlanError(f"cannot run nix-instantiate ({error.strerror}): reinstall nix-bin") from None
        except subprocess.TimeoutExpired:
            raise PlanError(f"nix-instantiate took more than {NIX_TIMEOUT:.0f} s on {source}") from None
    if result.returncode != 0:
        raise PlanError(f"evaluating {source} failed:\n{result.stderr.strip()}")
    return result.stdout


def parse(text: str, source: str) -> dict[str, Any]:
    try:
        topology = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlanError(f"{source}: not JSON: {error}") from None
    if not isinstance(topology, dict):
        raise PlanError(f"{source}: expected an attribute set, got {type(topology).__name__}")
    missing = [key for key in TOP_LEVEL_KEYS if key not in topology]
    missing += [f"plans.{role}" for role in ("gateway", "home") if role not in topology.get("plans", {})]
    if missing:
        raise PlanError(f"{source}: missing {', '.join(missing)}")
    for role in ("gateway", "home"):
        plan_role = topology["plans"][role].get("role")
        if plan_role != role:
            raise PlanError(f"{source}: plans.{role}.role is {plan_role!r}, expected {role!r}")
    return topology


def load_topology(
    overrides: Mapping[str, Any] | None = None, repository: Path | None = None
) -> dict[str, Any]:
    root = repository or repository_root()
    return evaluate(root / "tests" / "topology.nix", overrides)
