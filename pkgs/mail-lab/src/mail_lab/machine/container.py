"""A lab machine as a systemd-nspawn container: Debian's systemd as PID 1 in the machine's namespace.

The container's root is an overlay: the shared read-only tree (mail_lab.machine.rootfs) below, the
machine's own writable layer above (`<state>/layer`), so each machine has its own /etc and /var,
kept across a shutdown and start as a VM's disk is. nspawn joins the lab's network namespace of
the machine (`--network-namespace-path`); the host has no systemd, so nspawn keeps its own unit
(`--keep-unit`) and registers nothing. The container gets every capability, since the lab's units
make namespaces and TUN devices inside it.

Commands enter the container with `nsenter --target <PID 1> --all` in a clean environment.
Power-off is systemd's own (SIGRTMIN+4 to PID 1, what `machinectl poweroff` sends), a crash is
SIGKILL of PID 1, which ends every process of the container's PID namespace at once. Every wait is
bounded; the processes signalled are the ones recorded at start (checked by start time).
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from mail_lab.commands import run, spawn
from mail_lab.lab.processes import ProcessRef, all_pids, reap
from mail_lab.machine import cgroups
from mail_lab.net.namespaces import namespace_name, namespace_path
from mail_lab.polling import poll

BOOT_TIMEOUT = 30.0
STOP_TIMEOUT = 30.0
POLL = 0.05
# systemd's power-off request for a container's manager (man systemd, "Signals").
POWER_OFF_SIGNAL = signal.SIGRTMIN + 4
# nspawn mounts /proc/sys read-only unless it made the network namespace itself; the lab's units
# set the sysctls of the namespaces they create (netns@'s drop-in), so /proc/sys/net stays writable.
NSPAWN_ENVIRONMENT = {"SYSTEMD_NSPAWN_API_VFS_WRITABLE": "network"}
# The PATH and locale inside the container; nothing of the caller's environment goes in.
INSIDE_ENVIRONMENT = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "TERM": "dumb",
}


class ContainerError(RuntimeError):
    """The container did not boot or stop as asked; the message names the machine and its log."""


@dataclass(frozen=True)
class ContainerSpec:
    name: str  # machine name for nspawn (-M), unique on the host: the lab namespace's name
    hostname: str
    tree: Path  # the shared read-only root filesystem
    state_dir: Path  # the machine's writable layer, overlay work directory and mount point
    network_namespace: str  # a named (host-level) namespace: net.namespaces.namespace_path
    binds: tuple[str, ...] = ("/dev/net/tun",)
    # Host paths the machine sees read-only at the same path (the lab's own programs).
    read_only_binds: tuple[str, ...] = ()
    # Arguments for the container's systemd (e.g. `systemd.unit=basic.target`).
    init_arguments: tuple[str, ...] = ()

    @property
    def layer(self) -> Path:
        return self.state_dir / "layer"

    @property
    def root(self) -> Path:
        """The merged root, mounted on the host; files written here are the machine's."""
        return self.state_dir / "root"

    @property
    def log_file(self) -> Path:
        return self.state_dir / "console.log"


def mount_root(spec: ContainerSpec) -> None:
    work = spec.state_dir / "overlay-work"
    for directory in (spec.layer, work, spec.root):
        directory.mkdir(parents=True, exist_ok=True)
    if spec.root.is_mount():
        return
    options = f"lowerdir={spec.tree},upperdir={spec.layer},workdir={work}"
    run(["mount", "-t", "overlay", "overlay", "-o", options, str(spec.root)])


def unmount_root(spec: ContainerSpec) -> None:
    if spec.root.is_mount():
        run(["umount", str(spec.root)])


def mounts_under(directory: Path) -> list[Path]:
    """Mount points at or below `directory` (from /proc/mounts), deepest first."""
    prefix = str(directory).rstrip("/") + "/"
    points = []
    for line in Path("/proc/mounts").read_text().splitlines():
        point = line.split()[1].replace("\\040", " ")
        if point == prefix.rstrip("/") or point.startswith(prefix):
            points.append(Path(point))
    return sorted(points, key=lambda point: len(point.parts), reverse=True)


def remove_state(directory: Path) -> None:
    """A run's container state (`/run/mail-lab-containers-*`), also when a crashed run left its
    overlays mounted: they are unmounted first, so no later umount finds them busy and no
    removal reaches through a merged root into the tree below."""
    for point in mounts_under(directory):
        run(["umount", str(point)])
    if mounts_under(directory):
        raise ContainerError(f"{directory}: still mounted after umount; is a container of it running?")
    shutil.rmtree(directory, ignore_errors=True)


def nspawn_argv(spec: ContainerSpec) -> list[str]:
    return [
        "systemd-nspawn",
        "--quiet",
        f"--directory={spec.root}",
        f"--machine={spec.name}",
        f"--hostname={spec.hostname}",
        "--register=no",
        "--keep-unit",
        "--capability=all",
        f"--network-namespace-path={namespace_path(spec.network_namespace)}",
        *(f"--bind={path}" for path in spec.binds),
        *(f"--bind-ro={path}" for path in spec.read_only_binds),
        "--console=pipe",
        # The lab writes the machine's resolv.conf, timezone and journal settings itself.
        "--resolv-conf=off",
        "--timezone=off",
        "--link-journal=no",
        "--boot",
        *spec.init_arguments,
    ]


class Container:
    """A booted container: the nspawn process and the container's PID 1, both recorded."""

    def __init__(self, spec: ContainerSpec, nspawn: ProcessRef, init: ProcessRef):
        self.spec = spec
        self.nspawn = nspawn
        self.init = init

    @classmethod
    def boot(cls, spec: ContainerSpec) -> Container:
        """Start the container; returns once its PID 1 runs (see `wait_running` for the boot)."""
        mount_root(spec)
        with spec.log_file.open("ab") as log:
            argv = cgroups.joining(cgroups.make(spec.name), nspawn_argv(spec))
            process = spawn(argv, stdout=log, stderr=subprocess.STDOUT, env=NSPAWN_ENVIRONMENT)
        nspawn = ProcessRef.of(process.pid)

        def started() -> ProcessRef | bool:
            """The container's PID 1 once it runs; True once nspawn has ended (then none will)."""
            return _child_init(process.pid) or process.poll() is not None

        init = poll(started, BOOT_TIMEOUT, POLL)
        if isinstance(init, ProcessRef):
            return cls(spec, nspawn, init)
        with contextlib.suppress(ContainerError):
            _end(nspawn, None)
        unmount_root(spec)
        raise ContainerError(f"{spec.name}: systemd-nspawn did not start a container; see {spec.log_file}")

    def alive(self) -> bool:
        return self.init.alive()

    def enter(self, argv: list[str]) -> list[str]:
        """`argv` as a host command that runs it inside the container."""
        environment = [f"{key}={value}" for key, value in INSIDE_ENVIRONMENT.items()]
        return ["nsenter", f"--target={self.init.pid}", "--all", "--", "env", "-i", *environment, *argv]

    def run(
        self, argv: list[str], timeout: float = 30.0, check: bool = True
    ) -> subprocess.CompletedProcess[str]:
        return run(self.enter(argv), timeout=timeout, check=check)

    def system_state(self) -> str:
        """`systemctl is-system-running`: initializing, starting, running, degraded, stopping..."""
        return self.run(["systemctl", "is-system-running"], check=False).stdout.strip() or "offline"

    def wait_running(self, timeout: float = BOOT_TIMEOUT) -> str:
        """Wait until the boot is over; returns `running` or `degraded` (then see failed_units)."""
        last = ["offline"]  # the state the last poll saw

        def booted() -> str | None:
            if not self.alive():
                raise ContainerError(
                    f"{self.spec.name}: the container ended during boot; see {self.spec.log_file}"
                )
            last[0] = self.system_state()
            return last[0] if last[0] in ("running", "degraded") else None

        state = poll(booted, timeout, POLL)
        if state is None:
            raise ContainerError(f"{self.spec.name}: still {last[0]!r} after {timeout:.0f} s of boot")
        return state

    def failed_units(self) -> list[str]:
        listing = self.run(["systemctl", "list-units", "--failed", "--plain", "--no-legend"], check=False)
        return [line.split()[0] for line in listing.stdout.splitlines() if line.strip()]

    def power_off(self, timeout: float = STOP_TIMEOUT) -> None:
        """systemd's clean shutdown (units stopped in order); killed if it takes longer than `timeout`."""
        self.request_power_off()
        if not self._wait_ended(timeout):
            self.kill()
            return
        self._release()

    def request_power_off(self) -> None:
        """Ask systemd to power off, without waiting (several machines stop in parallel)."""
        self.init.signal(POWER_OFF_SIGNAL)

    def kill(self) -> None:
        """A crash: every process of the container ends at once, no unit stops cleanly."""
        _end(self.nspawn, self.init)
        self._release()

    def _release(self) -> None:
        """What the ended container held on the host: its root's mount and its cgroups (empty
        once its processes have left, which may take a moment)."""
        unmount_root(self.spec)
        cgroups.remove_when_empty(lambda name: name == self.spec.name)

    def _wait_ended(self, timeout: float) -> bool:
        def ended() -> bool:
            reap(self.nspawn.pid)
            return not self.nspawn.alive()

        return poll(ended, timeout, POLL) is not None


def _end(nspawn: ProcessRef, init: ProcessRef | None) -> None:
    """SIGKILL the container's PID 1 (its PID namespace goes with it), then nspawn, bounded."""
    if init is not None:
        init.signal(signal.SIGKILL)
        init.wait_gone(10.0)
    if not nspawn.wait_gone(10.0):
        nspawn.signal(signal.SIGKILL)
        if not nspawn.wait_gone(5.0):
            raise ContainerError(f"systemd-nspawn (pid {nspawn.pid}) did not end")


def _child_init(nspawn_pid: int) -> ProcessRef | None:
    """The container's PID 1: the child of nspawn once it runs systemd."""
    try:
        children = Path(f"/proc/{nspawn_pid}/task/{nspawn_pid}/children").read_text().split()
    except OSError:
        return None
    for child in children:
        with contextlib.suppress(OSError, ProcessLookupError):
            if Path(f"/proc/{child}/comm").read_text().strip() == "systemd":
                return ProcessRef.of(int(child))
    return None


def _machine_argument(pid: int) -> str | None:
    """The `--machine=` of an nspawn process, None for any other process."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None
    if not argv or Path(argv[0].decode(errors="replace")).name != "systemd-nspawn":
        return None
    for argument in argv:
        if argument.startswith(b"--machine="):
            return argument.removeprefix(b"--machine=").decode(errors="replace")
    return None


def find_containers(owns: Callable[[str], bool]) -> list[Container]:
    """Running containers whose machine name `owns` accepts (the lab's prefix), started by any run.

    A run that crashed leaves its containers behind; the next one finds them by the machine
    names it gives (every lab name carries the lab's prefix) and removes them.
    """
    found = []
    for pid in all_pids():
        name = _machine_argument(pid)
        if name is None or not owns(name):
            continue
        with contextlib.suppress(ProcessLookupError):
            nspawn = ProcessRef.of(pid)
            init = _child_init(pid)
            spec = _spec_of(pid, name)
            if spec is not None:
                found.append(Container(spec, nspawn, init) if init else _Orphan(spec, nspawn))
    return found


def _spec_of(pid: int, name: str) -> ContainerSpec | None:
    """Enough of a running container's spec to stop it and unmount its root."""
    try:
        argv = [a.decode(errors="replace") for a in Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")]
    except OSError:
        return None
    values = dict(a.removeprefix("--").split("=", 1) for a in argv if a.startswith("--") and "=" in a)
    if "directory" not in values:
        return None
    root = Path(values["directory"])
    return ContainerSpec(
        name=name,
        hostname=values.get("hostname", name),
        tree=Path("/"),
        state_dir=root.parent,
        network_namespace=namespace_name(values.get("network-namespace-path", "")),
    )


class _Orphan(Container):
    """An nspawn process whose container has no PID 1 (any more, or not yet)."""

    def __init__(self, spec: ContainerSpec, nspawn: ProcessRef):
        super().__init__(spec, nspawn, nspawn)

    def alive(self) -> bool:
        return self.nspawn.alive()

    def power_off(self, timeout: float = STOP_TIMEOUT) -> None:
        self.kill()

    def kill(self) -> None:
        self.nspawn.terminate(timeout=5.0, group=False)
        unmount_root(self.spec)
