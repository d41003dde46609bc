"""Shared by the lab's own tests: skip reasons, bringing a lab up, small helpers."""

from __future__ import annotations

import functools
import os
import subprocess
from typing import Any, TypeVar

import pytest

from mail_lab import preflight
from mail_lab.lab.log_scan import LogScan
from mail_lab.machine.api import Machine
from mail_lab.mail import flow
from mail_lab.polling import retry
from mail_lab.units.unit import Unit

PREFIX = "mla-"
T = TypeVar("T")


@functools.cache
def nix_problem() -> str | None:
    """Why the Nix plans cannot be evaluated here, or None (they need the evaluator, not nixpkgs)."""
    try:
        result = subprocess.run(
            ["nix-instantiate", "--eval", "-E", "builtins.nixVersion"],
            capture_output=True,
            text=True,
            timeout=60,
            env={**os.environ, "NIX_CONFIG": "build-users-group ="},
            check=False,
        )
    except FileNotFoundError:
        return "nix-instantiate is not installed (Debian package nix-bin)"
    if result.returncode != 0:
        return f"nix-instantiate does not evaluate: {result.stderr.strip()[:200]}"
    return None


def require_nix() -> None:
    problem = nix_problem()
    if problem:
        pytest.skip(problem)


def require_lab(services: bool = False) -> None:
    """Skip unless this host can build a lab (root, programs, Nix), with its mail daemons if asked."""
    if os.geteuid() != 0:
        pytest.skip("needs root: the lab creates network namespaces and mounts")
    missing = preflight.missing_programs(services=services)
    if missing:
        packages = " ".join(sorted(set(missing.values())))
        pytest.skip(f"programs missing: {', '.join(sorted(missing))} (Debian packages: {packages})")
    require_nix()


def echo_unit(name: str, port: int, **settings: Any) -> Unit:
    """A TCP server that answers with "peer <the address it sees>" (the mail test agent's `serve`)."""
    ready_file = f"/run/{name}.ready"
    serve = flow.serve_argv(port=port, tag="peer", ready_file=ready_file, log_file=f"/run/{name}.log")
    return Unit(
        name=name,
        exec_start_pre=[["rm", "-f", ready_file]],
        exec_start=[serve],
        ready=f"test -e {ready_file}",
        ready_timeout=10.0,
        **settings,
    )


def wait_for_ping(machine: Machine, address: str, timeout: float = 30.0) -> None:
    """Wait until `machine` gets an answer from `address` (e.g. once the tunnel has a handshake)."""

    def answered() -> bool:
        return machine.execute(f"ping -c 1 -W 1 {address}")[0] == 0

    retry(answered, timeout, 0.1, f"{machine.name} to reach {address}")


def peer_seen(machine: Machine, address: str, port: int, namespace: str | None = None) -> str:
    """Connect from `machine` (optionally inside its namespace `namespace`); the address the server saw."""
    connect = f"nc -w 3 {address} {port} </dev/null"
    if namespace:
        connect = f"ip netns exec {namespace} {connect}"
    reply = machine.succeed(connect).strip()
    assert reply.startswith("peer "), reply
    return reply.removeprefix("peer ")


def main_pid(machine: Machine, unit: str) -> int:
    pid = int(machine.succeed(f"systemctl show --property MainPID --value {unit}").strip())
    assert pid > 0, f"{unit} has no main process"
    return pid


def expect_milter_down(scan: LogScan) -> None:
    """The test stops rspamd: postfix warns that its milter cannot be reached, as it should."""
    scan.expect(
        "postfix",
        r"warning: connect to Milter service \S+: (Connection refused|No such file or directory)",
        "the test stops rspamd, postfix's milter",
    )
