"""The `mail-lab` CLI on bad input: one line that says what to do, exit code 2, no traceback.

Each case runs the installed CLI as a subprocess with its own lab prefix (mlsc-):
- not root: every command but `check` refuses (run as `nobody` with setpriv); `check` works.
- a missing program: the lab looks its programs up on the system path it runs them with (the same
  fixed PATH whatever the caller's, as sudo's secure_path), so a caller's PATH cannot hide one.
  The test hides the program for real instead: in a private mount namespace (unshare), /dev/null
  is bind-mounted over it, so for the CLI it exists no more.
- a port in use: the lab binds no port on the host (every daemon listens inside a lab namespace),
  so a host port in use cannot stop it. What can happen is a daemon whose port is already taken
  inside its machine; `up` then names the machine, the unit and the daemon's own "address already
  in use" line. Provoked with a topology (MAIL_LAB_REPO) whose ACME server's management port is its
  API port: pebble's second listener finds the port taken.
- a stale lab: a record whose `mail-lab up` died, or namespaces of the prefix left without a
  record, or a kept lab whose `mail-lab up --keep` was killed before its bring-up finished.
  `status` says so and what to do (exit 3), `shell`/`run`/`demo` refuse, `up` removes it and
  builds anew, `down` removes it. A lab whose owner is alive is not stale: `up` refuses it; nor
  is a kept lab, which `up` refuses to replace (it holds mail).
- a machine that is down: a script that uses it ends in one line, not a traceback.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from lab_support import require_lab

from mail_lab import preflight
from mail_lab.cli import EXIT_USER_ERROR
from mail_lab.lab.paths import LabConfig
from mail_lab.lab.processes import ProcessRef
from mail_lab.lab.record import LabRecord
from mail_lab.lab.teardown import teardown
from mail_lab.net.namespaces import list_namespaces
from mail_lab.polling import poll

pytestmark = [pytest.mark.lab]

PREFIX = "mlsc-"
REPO = Path(__file__).resolve().parents[2]
SCRIPT = Path(sys.executable).with_name("mail-lab")
CLI = [str(SCRIPT)] if SCRIPT.exists() else [sys.executable, "-m", "mail_lab.cli"]
ROOT_MESSAGE = "mail-lab: the lab must run as root (network namespaces, mounts)"
AS_NOBODY = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]


def mail_lab(
    *args: str,
    wrapper: Sequence[str] = (),
    env: dict[str, str] | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*wrapper, *CLI, *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "MAIL_LAB_PREFIX": PREFIX, **(env or {})},
        cwd="/",
        check=False,
    )


def one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    """The single error line of a CLI run that failed as a user error should."""
    assert "Traceback" not in result.stderr, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("mail-lab: "), result.stderr
    assert result.returncode == EXIT_USER_ERROR, (result.returncode, result.stderr)
    return lines[0]


def namespaces() -> list[str]:
    return [name for name in list_namespaces() if name.startswith(PREFIX)]


@pytest.fixture
def clean() -> Iterator[LabConfig]:
    """No lab of the prefix before and after the test."""
    require_lab()
    config = LabConfig(PREFIX)
    teardown(config)
    try:
        yield config
    finally:
        teardown(config)


# --- not root -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [["up"], ["up", "--keep", "--no-services"], ["down"], ["status"], ["shell"], ["run", "x.py"], ["demo"]],
    ids=" ".join,
)
def test_every_command_but_check_refuses_to_run_without_root(clean: LabConfig, args: list[str]) -> None:
    result = mail_lab(*args, wrapper=AS_NOBODY, env={"PYTHONPATH": os.pathsep.join(sys.path)})
    assert one_line_error(result) == ROOT_MESSAGE
    assert namespaces() == [] and not clean.lab_file.exists()


def test_check_needs_no_root(clean: LabConfig) -> None:
    result = mail_lab("check", wrapper=AS_NOBODY, env={"PYTHONPATH": os.pathsep.join(sys.path), "HOME": "/"})
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "plans evaluate and use documentation addresses only"


# --- a missing program --------------------------------------------------------------------------


def hiding(program: str) -> list[str]:
    """A wrapper that runs the CLI with `program` gone (see the module's docstring)."""
    path = shutil.which(program, path=preflight.SEARCH_PATH)
    assert path is not None, f"{program} is not installed"
    real = os.path.realpath(path)
    return [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        "sh",
        "-c",
        f'mount --bind /dev/null {real} && exec "$@"',
        "hide",
    ]


@pytest.mark.parametrize(
    ("program", "args", "package"),
    [
        ("wireguard-go", ["up", "--no-services"], "wireguard-go"),
        ("nft", ["up", "--keep"], "nftables"),
        ("postfix", ["up"], "postfix"),
        ("kresd", ["demo"], "knot-resolver"),
    ],
    ids=["wireguard-go-up", "nft-up", "postfix-up", "kresd-demo"],
)
def test_a_missing_program_is_named_with_its_package(
    clean: LabConfig, program: str, args: list[str], package: str
) -> None:
    require_lab(services=True)
    line = one_line_error(mail_lab(*args, wrapper=hiding(program)))
    assert line == (
        f"mail-lab: missing programs: {program}; install the Debian packages:"
        f" apt-get install --no-install-recommends {package}"
    )
    assert namespaces() == [] and not clean.lab_file.exists(), "the CLI touched something first"


def test_check_without_nix_names_the_package(clean: LabConfig) -> None:
    line = one_line_error(mail_lab("check", wrapper=hiding("nix-instantiate")))
    assert line == "mail-lab: nix-instantiate not found: install the Debian package nix-bin"


# --- a port in use ------------------------------------------------------------------------------

CLASHING_TOPOLOGY = """{{ overrides ? {{ }} }}:
let
  topology = import {repo}/tests/topology.nix {{ inherit overrides; }};
  acme = topology.world.internet.acme;
in
topology // {{
  world = topology.world // {{
    internet = topology.world.internet // {{ acme = acme // {{ managementPort = acme.port; }}; }};
  }};
}}
"""


def test_a_port_in_use_names_the_unit_and_the_port(clean: LabConfig, tmp_path: Path) -> None:
    require_lab(services=True)
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "topology.nix").write_text(CLASHING_TOPOLOGY.format(repo=REPO))
    line = one_line_error(mail_lab("up", "--keep", env={"MAIL_LAB_REPO": str(tmp_path)}))
    assert line.startswith("mail-lab: internet: pebble.service failed (port in use): "), line
    assert "192.0.2.54:14000" in line and "address already in use" in line
    assert f"logs in {clean.state_root / 'logs'}" in line
    assert namespaces() == [], "a failed bring-up must remove what it built"


# --- a stale lab --------------------------------------------------------------------------------


def dead_process() -> ProcessRef:
    """A process that existed and is gone (its start time no longer matches anything)."""
    child = subprocess.Popen(["true"])
    child.wait(timeout=10)
    return ProcessRef(child.pid, 0)


def stale_message(reason: str) -> str:
    return f"lab {PREFIX!r} is stale ({reason}): `mail-lab down` removes it, `mail-lab up` builds a new one"


def test_namespaces_left_without_a_record_are_reported_and_removed(clean: LabConfig) -> None:
    subprocess.run(["ip", "netns", "add", f"{PREFIX}gateway"], check=True)
    status = mail_lab("status")
    assert status.returncode == 3 and "Traceback" not in status.stderr
    assert status.stdout.strip() == stale_message(f"namespaces without a lab record: {PREFIX}gateway")
    assert one_line_error(mail_lab("shell")) == "mail-lab: " + stale_message(
        f"namespaces without a lab record: {PREFIX}gateway"
    )
    down = mail_lab("down")
    assert down.returncode == 0, down.stderr
    assert namespaces() == []


def test_a_lab_whose_owner_died_is_reported_refused_and_replaced(clean: LabConfig, tmp_path: Path) -> None:
    owner = dead_process()
    LabRecord(PREFIX, owner=owner).save(clean)
    subprocess.run(["ip", "netns", "add", f"{PREFIX}home"], check=True)
    reason = f"its `mail-lab up` (pid {owner.pid}) ended without removing it"
    status = mail_lab("status")
    assert status.returncode == 3 and status.stdout.strip() == stale_message(reason)
    script = tmp_path / "script.py"
    script.write_text("raise SystemExit('a stale lab must not run scripts')\n")
    assert one_line_error(mail_lab("run", str(script))) == "mail-lab: " + stale_message(reason)
    up = mail_lab("up", "--keep", "--no-services")
    assert up.returncode == 0, up.stderr
    assert "Traceback" not in up.stderr
    removing = f"mail-lab: removing the previous lab {PREFIX!r} ({reason}) and any mail in it"
    assert removing in up.stderr.splitlines()
    record = LabRecord.load(clean)
    assert record is not None and record.owner is None and all(record.inits.values())
    assert mail_lab("status").returncode == 0
    assert mail_lab("down").returncode == 0
    assert namespaces() == []


def test_a_lab_whose_owner_lives_is_not_stale(clean: LabConfig) -> None:
    owner = subprocess.Popen(["sleep", "60"])
    try:
        LabRecord(PREFIX, owner=ProcessRef.of(owner.pid)).save(clean)
        line = one_line_error(mail_lab("up", "--no-services"))
        assert line == (
            f"mail-lab: lab {PREFIX!r} is already up, held by `mail-lab up` (pid {owner.pid});"
            " run `mail-lab down` first"
        )
        assert namespaces() == []
    finally:
        owner.kill()
        owner.wait(timeout=10)


# --- a kept lab ---------------------------------------------------------------------------------


def wait_for_unfinished_record(config: LabConfig, builder: subprocess.Popen[str]) -> None:
    """Until `builder` (a `mail-lab up`) has written its record and not yet finished its bring-up."""

    def recorded() -> bool:
        record = LabRecord.load(config)
        if record is not None and record.builder is not None and record.builder.pid == builder.pid:
            assert not record.complete, "the bring-up finished before the test could kill it"
            return True
        assert builder.poll() is None, builder.communicate(timeout=10)
        return False

    if poll(recorded, 60, 0.01):
        return
    raise AssertionError("`mail-lab up --keep` wrote no record within 60 s")


def test_a_kept_lab_killed_during_its_bring_up_is_stale_and_refused(clean: LabConfig, tmp_path: Path) -> None:
    builder = subprocess.Popen(
        [*CLI, "up", "--keep", "--no-services"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "MAIL_LAB_PREFIX": PREFIX},
        cwd="/",
    )
    try:
        wait_for_unfinished_record(clean, builder)
    finally:
        builder.send_signal(signal.SIGKILL)
        builder.communicate(timeout=30)
    reason = f"its bring-up did not finish: its `mail-lab up` (pid {builder.pid}) ended first"
    status = mail_lab("status")
    assert (status.returncode, status.stdout.strip()) == (3, stale_message(reason)), status.stderr
    script = tmp_path / "script.py"
    script.write_text("raise SystemExit('a stale lab must not run scripts')\n")
    assert one_line_error(mail_lab("run", str(script))) == "mail-lab: " + stale_message(reason)
    assert one_line_error(mail_lab("demo")) == "mail-lab: " + stale_message(reason)
    assert mail_lab("down").returncode == 0
    assert namespaces() == [] and not clean.lab_file.exists()


SHUT_DOWN_THEN_USE = "client.shutdown()\nclient.succeed('true')\n"


def test_a_kept_lab_is_not_replaced_and_a_machine_that_is_down_is_one_line(
    clean: LabConfig, tmp_path: Path
) -> None:
    up = mail_lab("up", "--keep", "--no-services")
    assert up.returncode == 0, up.stderr
    again = one_line_error(mail_lab("up", "--keep", "--no-services"))
    assert again == (
        f"mail-lab: lab {PREFIX!r} is up, kept (--keep), with the mail in it;"
        " `mail-lab down` removes it and its mail, then `mail-lab up` builds a new one"
    )
    record = LabRecord.load(clean)
    assert record is not None and record.complete and all(record.inits.values()), "the kept lab was touched"
    script = tmp_path / "script.py"
    script.write_text(SHUT_DOWN_THEN_USE)
    assert one_line_error(mail_lab("run", str(script))) == (
        "mail-lab: client is not running; cannot run `true` (`mail-lab status` shows the lab's machines)"
    )
    status = mail_lab("status")
    assert status.returncode == 3 and "client: DOWN" in status.stdout.splitlines(), status.stdout
    assert mail_lab("down").returncode == 0
    assert namespaces() == []
