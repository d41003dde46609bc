"""The NixOS test driver's `Machine` API (nixos/lib/test-driver), so scenario scripts run unchanged.

Commands run as `bash -euo pipefail -c` inside the machine, `systemctl` is the machine's own,
and every wait polls a bounded number of times. How a command enters the machine, where its
files are and how its units are looked at is the machine's kind (mail_lab.machine.systemd).
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from mail_lab.commands import spawn
from mail_lab.errors import LabError
from mail_lab.lab.paths import LabConfig
from mail_lab.net.namespaces import namespace_path
from mail_lab.polling import PollTimeoutError, retry

POLL_INTERVAL = 0.25
# `execute(timeout=None)` still ends: the lab never waits without bound.
MAX_COMMAND_SECONDS = 3600


class MachineError(Exception):
    """Like the NixOS driver, failed checks raise a plain Exception subclass with a clear message."""


class MachineDownError(LabError, MachineError):
    """A machine that is shut down or gone was asked to do something (a user error of the CLI)."""


class MachineLifecycle(Protocol):
    """What the world does when a machine is started, shut down or crashed."""

    def boot(self, machine: Machine) -> None: ...

    def power_off(self, machine: Machine, crash: bool) -> None: ...


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


class Machine(ABC):
    def __init__(self, config: LabConfig, name: str):
        self.config = config
        self.name = name
        self.lifecycle: MachineLifecycle | None = None
        # The world's link of this machine to the internet (for block/unblock): the interface in
        # the internet machine whose carrier this machine sees.
        self.uplink_peer: tuple[Machine, str] | None = None
        self._last_stderr = ""

    def __repr__(self) -> str:
        return f"<Machine {self.name}>"

    # --- identity and state --------------------------------------------------------------------

    @property
    def namespace(self) -> str:
        """The machine's global network namespace, `<prefix><name>`."""
        return self.config.namespace(self.name)

    @property
    def namespace_path(self) -> str:
        """The file of the machine's global network namespace."""
        return namespace_path(self.namespace)

    @property
    def state_dir(self) -> Path:
        """The machine's directory on the host (its overlay layer and root mount)."""
        return self.config.machine_dir(self.name)

    @abstractmethod
    def is_up(self) -> bool: ...

    @abstractmethod
    def root_path(self, path: str) -> Path:
        """`path` as seen inside the machine, reachable from the host."""

    # --- commands --------------------------------------------------------------------------------

    @abstractmethod
    def _argv(self, command: str) -> list[str]:
        """The host's command that runs `command` in the machine."""

    def execute(
        self, command: str, check_return: bool = True, check_output: bool = True, timeout: int | None = 900
    ) -> tuple[int, str]:
        """Run `command` in the machine; (exit code, stdout). stderr goes to the machine's log."""
        if not self.is_up():
            raise MachineDownError(
                f"{self.name} is not running; cannot run `{command}`"
                " (`mail-lab status` shows the lab's machines)"
            )
        limit = float(timeout) if timeout is not None else float(MAX_COMMAND_SECONDS)
        self.config.log_dir(self.name).mkdir(parents=True, exist_ok=True)
        with (self.config.log_dir(self.name) / "commands.log").open("ab") as errors:
            errors.write(f"$ {command}\n".encode())
            errors.flush()
            if not check_output:
                # As in the NixOS driver: the command may keep running (e.g. a background server).
                spawn(self._argv(command), stdout=errors, stderr=errors)
                return (-2, "")
            process = spawn(self._argv(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            try:
                out, err = process.communicate(timeout=limit)
                code = process.returncode
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                out, err = process.communicate(timeout=10)
                code = 124
            errors.write(err)
        self._last_stderr = err.decode(errors="replace")
        output = out.decode(errors="replace")
        return (code if check_return else -1, output)

    def _failure(self, command: str, code: int) -> MachineError:
        detail = self._last_stderr.strip()[-2000:]
        return MachineError(
            f"{self.name}: command `{command}` failed (exit code {code})" + (f"\n{detail}" if detail else "")
        )

    def succeed(self, *commands: str, timeout: int | None = None) -> str:
        output = ""
        for command in commands:
            code, out = self.execute(command, timeout=timeout)
            if code != 0:
                raise self._failure(command, code)
            output += out
        return output

    def fail(self, *commands: str, timeout: int | None = None) -> str:
        output = ""
        for command in commands:
            code, out = self.execute(command, timeout=timeout)
            if code == 0:
                raise MachineError(f"{self.name}: command `{command}` unexpectedly succeeded")
            output += out
        return output

    def _poll(self, what: str, check: Callable[[], bool], timeout: float) -> None:
        try:
            retry(check, timeout, POLL_INTERVAL, what)
        except PollTimeoutError as timed_out:
            raise MachineError(f"{self.name}: {timed_out}") from None

    def _wait_command(self, command: str, timeout: int, want_success: bool) -> str:
        result: list[str] = []
        started = time.monotonic()

        def attempt() -> bool:
            # Each try gets what is left of the whole wait (at least 1 s).
            remaining = max(1, int(timeout - (time.monotonic() - started)) + 1)
            code, out = self.execute(command, timeout=remaining)
            result[:] = [out]
            return (code == 0) == want_success

        self._poll(f"`{command}` to {'succeed' if want_success else 'fail'}", attempt, timeout)
        return result[0]

    def wait_until_succeeds(self, command: str, timeout: int = 900) -> str:
        return self._wait_command(command, timeout, want_success=True)

    def wait_until_fails(self, command: str, timeout: int = 900) -> str:
        return self._wait_command(command, timeout, want_success=False)

    def wait_for_file(self, filename: str, timeout: int = 900) -> None:
        self.wait_until_succeeds(f"test -e {shlex.quote(filename)}", timeout)

    def wait_for_open_port(self, port: int, addr: str = "localhost", timeout: int = 900) -> None:
        self.wait_until_succeeds(f"nc -z {shlex.quote(addr)} {int(port)}", timeout)

    def wait_for_closed_port(self, port: int, addr: str = "localhost", timeout: int = 900) -> None:
        self.wait_until_fails(f"nc -z {shlex.quote(addr)} {int(port)}", timeout)

    def wait_for_open_unix_socket(self, addr: str, is_datagram: bool = False, timeout: int = 900) -> None:
        flags = "-uzU" if is_datagram else "-zU"
        self.wait_until_succeeds(f"nc {flags} {shlex.quote(addr)}", timeout)

    # --- units -----------------------------------------------------------------------------------

    def systemctl(self, q: str, user: str | None = None) -> tuple[int, str]:
        if user is not None:
            raise MachineError("the lab has no user service managers (systemctl --user)")
        return self.execute(f"systemctl {q}", check_return=True)

    @abstractmethod
    def get_unit_info(self, unit: str, user: str | None = None) -> dict[str, str]:
        """`systemctl show` of `unit` as a dict."""

    def get_unit_property(self, unit: str, property: str, user: str | None = None) -> str:
        return self.get_unit_info(unit, user)[property]

    def require_unit_state(self, unit: str, require_state: str = "active") -> None:
        state = self.get_unit_info(unit)["ActiveState"]
        if state != require_state:
            raise MachineError(
                f"{self.name}: expected unit {unit} to be in state '{require_state}'"
                f" but it is in state '{state}'"
            )

    @abstractmethod
    def wait_for_unit(self, unit: str, user: str | None = None, timeout: int = 900) -> None:
        """Wait until `unit` is active; fail at once as the driver does."""

    def start_job(self, jobname: str, user: str | None = None) -> tuple[int, str]:
        return self.systemctl(f"start {shlex.quote(jobname)}", user)

    def stop_job(self, jobname: str, user: str | None = None) -> tuple[int, str]:
        return self.systemctl(f"stop {shlex.quote(jobname)}", user)

    @abstractmethod
    def wait_for_job(self, jobname: str) -> None: ...

    # --- files -----------------------------------------------------------------------------------

    def _private_target(self, path: str) -> Path:
        if not os.path.isabs(path):
            raise MachineError(f"{self.name}: {path} is not an absolute path")
        return self.root_path(os.path.normpath(path))

    def write_file(
        self,
        path: str,
        content: str | bytes,
        mode: int = 0o644,
        owner: str | None = None,
        group: str | None = None,
    ) -> None:
        """Write `content` to `path` inside the machine, owned by `owner`/`group` as the machine
        names them."""
        target = self._private_target(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = content.encode() if isinstance(content, str) else content
        # In place (not rename): the target may be a bind-mounted file such as /etc/hosts.
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        if owner or group:
            uid = self._id_of("passwd", owner) if owner else -1
            gid = self._id_of("group", group) if group else -1
            os.chown(target, uid, gid)
        target.chmod(mode)

    def _id_of(self, database: str, name: str) -> int:
        """A user's or group's id in the machine's own /etc/passwd or /etc/group (not the host's)."""
        for line in self.root_path(f"/etc/{database}").read_text().splitlines():
            fields = line.split(":")
            if fields[0] == name and len(fields) > 2:
                return int(fields[2])
        raise MachineError(
            f"{self.name}: no {'user' if database == 'passwd' else 'group'} {name!r} in the machine"
        )

    def copy_from_host(self, source: str, target: str) -> None:
        destination = self._private_target(target)
        destination.parent.mkdir(parents=True, exist_ok=True)
        if os.path.isdir(source):
            shutil.copytree(source, destination, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(source, destination)

    def copy_from_vm(self, source: str, target_dir: str = "") -> None:
        """Copy `source` from the machine into `$out/<target_dir>` (or the lab's out directory)."""
        default = str(self.config.state_root / "out")
        # $out: where the NixOS driver puts copied files (lowercase, as Nix names it).
        out = Path(os.environ.get("out", default)) / target_dir  # noqa: SIM112
        out.mkdir(parents=True, exist_ok=True)
        origin = self.root_path(source)
        if origin.is_dir():
            shutil.copytree(origin, out / origin.name, symlinks=True, dirs_exist_ok=True)
        else:
            shutil.copy2(origin, out / origin.name)

    # --- power and links -------------------------------------------------------------------------

    def _lifecycle(self) -> MachineLifecycle:
        if self.lifecycle is None:
            raise MachineError(f"{self.name}: this lab object cannot start or stop machines")
        return self.lifecycle

    def start(self, allow_reboot: bool = False) -> None:
        if not self.is_up():
            self._lifecycle().boot(self)

    def shutdown(self) -> None:
        if self.is_up():
            self._lifecycle().power_off(self, crash=False)

    def crash(self) -> None:
        if self.is_up():
            self._lifecycle().power_off(self, crash=True)

    def reboot(self) -> None:
        self.shutdown()
        self.start()

    def wait_for_shutdown(self) -> None:
        self._poll("shutdown", lambda: not self.is_up(), 30)

    def _set_link(self, up: bool) -> None:
        if self.uplink_peer is None:
            raise MachineError(f"{self.name} has no link to block")
        internet, interface = self.uplink_peer
        internet.succeed(f"ip link set dev {shlex.quote(interface)} {'up' if up else 'down'}")

    def block(self) -> None:
        """Unplug the machine's uplink (its eth0 loses carrier, keeping its configuration)."""
        self._set_link(False)

    def unblock(self) -> None:
        self._set_link(True)

    # --- driver niceties -------------------------------------------------------------------------

    def log(self, msg: str) -> None:
        log(f"{self.name}: {msg}")

    def sleep(self, secs: int) -> None:
        time.sleep(secs)

    @contextlib.contextmanager
    def nested(self, msg: str, attrs: dict[str, Any] | None = None) -> Iterator[None]:
        self.log(msg)
        yield
