"""The driver's `Machine` on a container booting Debian's systemd (mail_lab.machine.container).

Everything the NixOS test driver does through systemd is done by the machine's own systemd:
commands run in the container, `systemctl` is Debian's, `get_unit_info` parses `systemctl show`,
and `wait_for_unit` keeps the driver's rules (fail at once when the unit failed, or when it is
inactive and no job is pending). `start`/`shutdown`/`crash` boot the container, power it off by
systemd, or kill it. Files are written through the machine's root: the whole of it is the
machine's own overlay layer, so no path of the host can be reached.
"""

from __future__ import annotations

import os
import shlex
from pathlib import Path

from mail_lab.lab.paths import LabConfig
from mail_lab.lab.processes import ProcessRef
from mail_lab.machine.api import Machine, MachineDownError, MachineError
from mail_lab.machine.container import Container, ContainerSpec
from mail_lab.units.unit import unit_name

# Paths a running container has of its own (tmpfs, API file systems), not in its overlay.
RUNTIME_PATHS = ("/run", "/tmp", "/proc", "/sys", "/dev", "/var/run")


class ContainerLifecycle:
    """Boot and power-off of a container machine (the world adds its links and configuration)."""

    def boot(self, machine: Machine) -> None:
        if not isinstance(machine, SystemdMachine):
            raise MachineError(f"{machine.name} is not a container machine")
        machine.container = Container.boot(machine.spec)
        state = machine.container.wait_running()
        if state != "running":
            machine.log(f"booted {state}: failed units {', '.join(machine.container.failed_units())}")

    def power_off(self, machine: Machine, crash: bool) -> None:
        if not isinstance(machine, SystemdMachine) or machine.container is None:
            return
        if crash:
            machine.container.kill()
        else:
            machine.container.power_off()
        machine.container = None


class SystemdMachine(Machine):
    def __init__(self, config: LabConfig, name: str, spec: ContainerSpec):
        super().__init__(config, name)
        self.spec = spec
        self.container: Container | None = None
        self.lifecycle = ContainerLifecycle()

    def is_up(self) -> bool:
        return self.container is not None and self.container.alive()

    def _init(self) -> ProcessRef:
        if self.container is None:
            raise MachineDownError(f"{self.name} is not running: `mail-lab status` shows the lab's machines")
        return self.container.init

    def _argv(self, command: str) -> list[str]:
        if self.container is None:
            raise MachineError(f"{self.name} is not running; cannot run `{command}`")
        return self.container.enter(["bash", "-euo", "pipefail", "-c", command])

    def root_path(self, path: str) -> Path:
        """`path` inside the machine, from the host: the machine's own root (its overlay, mounted on
        the host) for files it keeps, the running container's view for its tmpfs and API mounts."""
        normalized = os.path.normpath("/" + path.lstrip("/"))
        if self.spec.root.is_mount() and not any(
            normalized == top or normalized.startswith(top + "/") for top in RUNTIME_PATHS
        ):
            return self.spec.root / normalized.lstrip("/")
        return Path(f"/proc/{self._init().pid}/root") / normalized.lstrip("/")

    # --- units: the machine's systemd ------------------------------------------------------------

    def get_unit_info(self, unit: str, user: str | None = None) -> dict[str, str]:
        if user is not None:
            raise MachineError("the lab has no user service managers (systemctl --user)")
        code, out = self.systemctl(f"--no-pager show {shlex.quote(unit)}")
        if code != 0:
            raise MachineError(
                f'{self.name}: retrieving systemctl info for unit "{unit}" failed (exit {code})'
            )
        return dict(line.split("=", 1) for line in out.splitlines() if "=" in line)

    def _no_pending_jobs(self) -> bool:
        return "No jobs" in self.systemctl("list-jobs --full 2>&1")[1]

    def wait_for_unit(self, unit: str, user: str | None = None, timeout: int = 900) -> None:
        name = unit_name(unit)

        def active() -> bool:
            info = self.get_unit_info(name, user)
            if info.get("LoadState") == "not-found":
                raise MachineError(f"{self.name}: unit {name} does not exist")
            state = info["ActiveState"]
            if state == "failed":
                raise MachineError(f'{self.name}: unit "{name}" reached state "failed"')
            # As the driver: inactive with no job pending, and still so when looked at again.
            if (
                state == "inactive"
                and self._no_pending_jobs()
                and self.get_unit_info(name, user)["ActiveState"] == "inactive"
            ):
                raise MachineError(f'{self.name}: unit "{name}" is inactive and there are no pending jobs')
            return state == "active"

        self._poll(f"unit {name}", active, timeout)

    def wait_for_job(self, jobname: str) -> None:
        self.wait_for_unit(jobname)
