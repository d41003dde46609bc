"""Removing a lab of one prefix, running or left over by a crash; safe to repeat.

Order: power off the lab's containers (found by their machine name, which carries the prefix;
systemd stops their units, and a container that does not end in time is killed), then kill what
is left in the lab's namespaces: every process whose network or mount namespace is one of the
lab's (the machines' and the namespaces created inside them, such as home's `wg`) and their
descendants, and the machines' recorded PID 1s; then delete the `<prefix>*` network namespaces
and the lab's runtime state.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from dataclasses import dataclass, field
from pathlib import Path

from mail_lab.errors import LabError
from mail_lab.lab.paths import LabConfig
from mail_lab.lab.processes import ProcessRef, all_pids, namespace_inode, reap
from mail_lab.lab.record import LabRecord
from mail_lab.machine import cgroups
from mail_lab.machine.container import ContainerError, find_containers, remove_state
from mail_lab.machine.journal import export_journal
from mail_lab.net.namespaces import NAMESPACE_DIR, list_namespaces, namespace_path, remove_namespace
from mail_lab.polling import poll

KILL_GRACE = 5.0
CONTAINER_STOP_TIMEOUT = 15.0
POLL = 0.05
# Runtime state removed with the lab; secrets kept by the services (CA, DKIM keys) stay.
RUNTIME_ENTRIES = ("machines", "lab.json", "topology.json")


class TeardownError(LabError, RuntimeError):
    """Something of the lab could not be removed."""


@dataclass
class TeardownReport:
    killed: list[int] = field(default_factory=list)
    namespaces: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def lab_namespaces(config: LabConfig) -> list[str]:
    return sorted(name for name in list_namespaces() if config.owns_namespace(name))


def _ancestors() -> set[int]:
    """This process and its parents: never killed, whatever namespace they are in."""
    pids, pid = set(), os.getpid()
    for _ in range(64):
        pids.add(pid)
        try:
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            break
        parent = int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))
        if parent <= 1:
            break
        pid = parent
    return pids


def _parent(pid: int) -> int | None:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("PPid:")))


def _inner_namespace_inodes(init: ProcessRef) -> set[int]:
    """Network namespaces created inside a machine (`ip netns add wg` there)."""
    inodes: set[int] = set()
    directory = Path(f"/proc/{init.pid}/root{NAMESPACE_DIR}")
    with contextlib.suppress(OSError):
        for entry in directory.iterdir():
            with contextlib.suppress(OSError):
                inodes.add(entry.stat().st_ino)
    return inodes


def _kill(pids: set[int], report: TeardownReport) -> None:
    refs = []
    for pid in sorted(pids):
        with contextlib.suppress(ProcessLookupError):
            refs.append(ProcessRef.of(pid))
    for ref in refs:
        ref.signal(signal.SIGTERM)

    def all_gone() -> bool:
        for ref in refs:
            reap(ref.pid)
        return not any(ref.alive() for ref in refs)

    poll(all_gone, KILL_GRACE, POLL)
    for ref in refs:
        if ref.alive():
            ref.signal(signal.SIGKILL)
    for ref in refs:
        if not ref.wait_gone(2.0):
            report.problems.append(f"process {ref.pid} did not die")
        report.killed.append(ref.pid)


def _processes_in(namespaces: list[str], inits: list[ProcessRef]) -> set[int]:
    """Every process in these namespaces, their machines' inner ones, or below a lab process."""
    net_inodes: set[int] = set()
    for name in namespaces:
        with contextlib.suppress(OSError):
            net_inodes.add(os.stat(namespace_path(name)).st_ino)
    mnt_inodes: set[int] = set()
    for init in inits:
        if init.alive():
            net_inodes |= _inner_namespace_inodes(init)
            inode = namespace_inode(init.pid, "mnt")
            if inode is not None:
                mnt_inodes.add(inode)
    host_net, host_mnt = namespace_inode(os.getpid(), "net"), namespace_inode(os.getpid(), "mnt")
    # Safety: the host's own namespaces are never a reason to kill anything.
    net_inodes.discard(host_net or -1)
    mnt_inodes.discard(host_mnt or -1)
    protected = _ancestors()
    members = {init.pid for init in inits if init.alive()}
    for pid in all_pids():
        if namespace_inode(pid, "net") in net_inodes or namespace_inode(pid, "mnt") in mnt_inodes:
            members.add(pid)
    # Descendants of lab processes (e.g. a daemon's children in a namespace of their own).
    for _ in range(8):
        added = {pid for pid in all_pids() if pid not in members and _parent(pid) in members}
        if not added:
            break
        members |= added
    return members - protected


def teardown(config: LabConfig) -> TeardownReport:
    """Remove the lab of `config.prefix` completely; raise TeardownError if anything is left."""
    report = TeardownReport()
    _power_off_containers(config, report)
    record = LabRecord.load(config)
    inits = [ref for ref in (record.inits.values() if record else []) if ref is not None]
    _kill(_processes_in(lab_namespaces(config), inits), report)
    # The cgroups of this prefix's containers, a crashed run's too.
    report.problems += cgroups.remove_when_empty(config.owns_namespace)
    for name in lab_namespaces(config):
        try:
            remove_namespace(name)
            report.namespaces.append(name)
        except OSError as error:
            report.problems.append(f"namespace {name}: {error}")
    _keep_daemon_logs(config)
    # Overlays a crashed run left mounted are unmounted, never removed through.
    try:
        remove_state(config.state_root / "machines")
    except ContainerError as error:
        report.problems.append(str(error))
    for entry in RUNTIME_ENTRIES:
        path = config.state_root / entry
        if path.is_dir():
            shutil.rmtree(path, ignore_errors=True)
        elif path.exists():
            path.unlink()
    left = lab_namespaces(config)
    if left:
        report.problems.append(f"namespaces still present: {', '.join(left)}")
    if report.problems:
        raise TeardownError(f"lab {config.prefix!r} not fully removed: " + "; ".join(report.problems))
    return report


def _power_off_containers(config: LabConfig, report: TeardownReport) -> None:
    """Every container of this prefix, of this run or left by a crashed one: systemd's power-off
    for all at once, then a kill of each that has not ended (bounded)."""
    containers = find_containers(config.owns_namespace)
    for container in containers:
        container.request_power_off()
    for container in containers:
        try:
            container.power_off(timeout=CONTAINER_STOP_TIMEOUT)
            report.killed.append(container.nspawn.pid)
        except (ContainerError, OSError) as error:
            report.problems.append(f"container {container.spec.name}: {error}")


def _keep_daemon_logs(config: LabConfig) -> None:
    """The daemons' own logs (each machine's /var/log) outlive the lab, beside the unit logs."""
    machines = config.state_root / "machines"
    found = sorted(machines.glob("*/layer/var/log"))
    for var_log in found if machines.is_dir() else []:
        machine = var_log.parent.parent.parent.name
        # The machine's units logged to its journal.
        export_journal(var_log, config.log_dir(machine))
        kept = config.log_dir(machine) / "var-log"
        shutil.rmtree(kept, ignore_errors=True)
        shutil.copytree(
            var_log,
            kept,
            symlinks=True,
            ignore_dangling_symlinks=True,
            dirs_exist_ok=True,
            # The journal is kept as the unit logs just exported.
            ignore=lambda directory, _names, top=var_log: ["journal"] if Path(directory) == top else [],
        )
