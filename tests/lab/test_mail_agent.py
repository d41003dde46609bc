"""The mail test agent (mail_lab.mail.agent) as a program: what the machines run (no lab needed).

Its network actions are tested where they run, in the lab's machines (test_services_mail.py,
test_security.py, test_faults.py, test_daemon_logs.py, the lab's echo units) and the benchmarks.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

from mail_lab.mail import agent, flow
from mail_lab.units.install import PROGRAM_DIR, lab_programs, lab_scripts

AGENT_FILE = Path(agent.__file__)


def run_agent_file(*arguments: str) -> subprocess.CompletedProcess[str]:
    """The agent file run by an isolated python3 (no site-packages, no project on sys.path)."""
    return subprocess.run(
        [sys.executable, "-I", str(AGENT_FILE), *arguments],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_the_agent_imports_only_the_standard_library() -> None:
    """So it runs with any python3: the lab's, and the bare one of its Nix package."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(AGENT_FILE.read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported and imported <= set(sys.stdlib_module_names), imported - set(sys.stdlib_module_names)


def test_a_job_without_a_known_action_is_refused_with_the_actions() -> None:
    actions = "send, probe, imap_fetch, burst, hold, knock, serve"
    usage = run_agent_file()
    assert usage.returncode == 1 and usage.stdout == ""
    assert usage.stderr == f"usage: mail-test-agent '<job as JSON>' (actions: {actions})\n"
    unknown = run_agent_file(json.dumps({"action": "relay"}))
    assert unknown.returncode == 1 and unknown.stdout == ""
    assert unknown.stderr == f"mail-test-agent: unknown action 'relay'; one of {actions}\n"


def test_the_agent_file_is_executable_with_a_python3_shebang() -> None:
    """The Nix package puts its own interpreter line first; a checkout runs the file directly."""
    assert AGENT_FILE.read_text().startswith("#!/usr/bin/env python3\n")
    assert AGENT_FILE.stat().st_mode & 0o111 == 0o111


def test_the_lab_puts_the_agent_on_every_machines_path() -> None:
    command = f"{PROGRAM_DIR}/{agent.COMMAND}"
    assert lab_programs()[agent.COMMAND] == command
    assert lab_scripts() == {
        command: f'#!/bin/sh\nexec {PROGRAM_DIR}/python3 {AGENT_FILE.resolve()} "$@"\n',
    }


def test_flow_hands_the_agent_one_json_argument() -> None:
    job = {"action": "knock", "address": "192.0.2.1", "port": 25, "source": None}
    assert flow.knock_command(address="192.0.2.1", port=25) == f"mail-test-agent '{json.dumps(job)}'"
    serve = flow.serve_argv(port=80, tag="peer", ready_file="/run/r", log_file="/run/l")
    assert serve[0] == "mail-test-agent" and json.loads(serve[1]) == {
        "action": "serve",
        "port": 80,
        "tag": "peer",
        "ready_file": "/run/r",
        "log_file": "/run/l",
    }
