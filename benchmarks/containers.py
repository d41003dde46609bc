"""Lab machines as systemd-nspawn containers (mail_lab.machine.container): boot, idle cost, power-off.

Five containers (as many as the lab's machines), each in a network namespace of its own named
with the benchmark's prefix, on overlays of the cached tree (mail_lab.machine.rootfs); no daemons of the
lab yet, only Debian's systemd and its own units.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from mail_lab.machine import rootfs
from mail_lab.machine.container import Container, ContainerSpec, find_containers
from mail_lab.net.namespaces import create_namespace, list_namespaces, remove_namespace

MACHINES = ("internet", "gateway", "home", "remote", "client")
IDLE_SECONDS = 10.0
STATE = Path("/run/mail-lab-benchmark-containers")


@dataclass(frozen=True)
class ContainerCycle:
    boot_seconds: float  # from the first nspawn until every systemd says `running`
    idle_cpu_percent: float  # CPU of every process of the five containers, % of one core
    power_off_seconds: float  # from the power-off signals until every nspawn has ended


def _clean(prefix: str) -> None:
    for container in find_containers(lambda name: name.startswith(prefix)):
        container.kill()
    for name in list_namespaces():
        if name.startswith(prefix):
            remove_namespace(name)
    shutil.rmtree(STATE, ignore_errors=True)


@contextlib.contextmanager
def _namespaces(prefix: str) -> Iterator[list[ContainerSpec]]:
    _clean(prefix)
    tree = rootfs.ensure_tree()
    specs = []
    for machine in MACHINES:
        create_namespace(f"{prefix}{machine}")
        specs.append(
            ContainerSpec(f"{prefix}{machine}", machine, tree.root, STATE / machine, f"{prefix}{machine}")
        )
    try:
        yield specs
    finally:
        _clean(prefix)


def _cpu_ticks(containers: list[Container]) -> int:
    """user + system ticks of every process in the containers' PID namespaces."""
    inodes = {os.stat(f"/proc/{c.init.pid}/ns/pid").st_ino for c in containers}
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError, ValueError, IndexError):
            if os.stat(f"/proc/{entry}/ns/pid").st_ino in inodes:
                stat = Path(f"/proc/{entry}/stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                total += int(fields[11]) + int(fields[12])
    return total


def container_cycle(prefix: str) -> ContainerCycle:
    with _namespaces(prefix) as specs:
        started = time.perf_counter()
        containers = [Container.boot(spec) for spec in specs]
        for container in containers:
            state = container.wait_running()
            if state != "running":
                raise RuntimeError(f"{container.spec.name} is {state}: {container.failed_units()}")
        boot = time.perf_counter() - started
        before = _cpu_ticks(containers)
        time.sleep(IDLE_SECONDS)
        idle = (_cpu_ticks(containers) - before) / os.sysconf("SC_CLK_TCK") / IDLE_SECONDS * 100
        stopped = time.perf_counter()
        for container in containers:
            container.request_power_off()
        for container in containers:
            container.power_off()
        power_off = time.perf_counter() - stopped
    return ContainerCycle(boot, idle, power_off)


def tree_build_seconds() -> float:
    """How long the cached tree took to build (built now if it is not cached)."""
    return rootfs.ensure_tree().build_seconds
