"""Building from changed plans, tearing down completely, recovering from a crashed `mail-lab up`."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from lab_support import PREFIX, echo_unit, peer_seen, require_lab, wait_for_ping

from mail_lab.cli import unit_states
from mail_lab.lab.paths import LabConfig
from mail_lab.lab.processes import ProcessRef, all_pids, namespace_inode
from mail_lab.lab.record import LabRecord
from mail_lab.lab.world import World
from mail_lab.machine.api import Machine
from mail_lab.machine.systemd import SystemdMachine
from mail_lab.net.namespaces import list_namespaces, namespace_path
from mail_lab.polling import retry
from mail_lab.units.install import add_units

pytestmark = [pytest.mark.lab]

NEW_ADDRESSES = {"ipv4": "198.51.100.12", "ipv6": "2001:db8:1::12"}
OLD_ADDRESSES = {"ipv4": "198.51.100.11", "ipv6": "2001:db8:1::11"}
CLI = [sys.executable, "-m", "mail_lab.cli"]


def lab_processes(config: LabConfig) -> list[int]:
    """Processes in any of the lab's network namespaces."""
    inodes = {
        os.stat(namespace_path(name)).st_ino for name in list_namespaces() if name.startswith(config.prefix)
    }
    return [pid for pid in all_pids() if namespace_inode(pid, "net") in inodes]


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "MAIL_LAB_PREFIX": PREFIX}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=timeout, env=env, check=False
    )


def test_a_changed_forwarded_address_changes_the_lab_and_teardown_leaves_nothing() -> None:
    require_lab()
    overrides = {"home": {"addresses": [f"{NEW_ADDRESSES['ipv4']}/32", f"{NEW_ADDRESSES['ipv6']}/128"]}}
    world = World.up(prefix=PREFIX, overrides=overrides, services=False)
    config = world.config
    try:
        gateway, home, remote = (world.machines[n] for n in ("gateway", "home", "remote"))
        plan = world.view.home
        add_units(home, [echo_unit("lab-echo.service", 80)], {"lab-echo": plan.units["postfix"]})
        home.succeed("systemctl start lab-echo.service")
        assert f"{NEW_ADDRESSES['ipv6']} dev eth0 proxy" in gateway.succeed("ip -6 neigh show proxy")
        assert OLD_ADDRESSES["ipv6"] not in gateway.succeed("ip -6 neigh show proxy")
        assert "dev wg0" in gateway.succeed(f"ip route show {NEW_ADDRESSES['ipv4']}")
        assert gateway.succeed(f"ip route show {OLD_ADDRESSES['ipv4']}").strip() == ""
        allowed = gateway.succeed("wg show wg0 allowed-ips").split()[1:]
        assert sorted(allowed) == sorted([f"{NEW_ADDRESSES['ipv4']}/32", f"{NEW_ADDRESSES['ipv6']}/128"])
        addresses = home.succeed("ip netns exec wg ip -br address show dev wg0")
        assert NEW_ADDRESSES["ipv4"] in addresses and NEW_ADDRESSES["ipv6"] in addresses
        for family, address in NEW_ADDRESSES.items():
            wait_for_ping(remote, address)
            seen = peer_seen(remote, address, 80)
            assert seen == world.view.machine("remote").address(family)
        remote.fail(f"ping -c 1 -W 1 {OLD_ADDRESSES['ipv4']}")
        recorded = lab_unit_processes(world)
        inits = [init for init in world.record().inits.values() if init]
        assert lab_processes(config) and recorded
    finally:
        world.down()
    assert [n for n in list_namespaces() if n.startswith(PREFIX)] == []
    assert lab_processes(config) == []
    # By PID and start time: the suite's other stream may have been given a recorded PID again.
    alive = [process.pid for process in [*recorded, *inits] if process.alive()]
    assert alive == [], f"lab processes still alive: {alive}"
    # Idempotent: tearing down again finds nothing and succeeds.
    assert world.down().namespaces == []


def test_up_refuses_a_running_lab_and_recovers_from_a_crashed_one() -> None:
    require_lab()
    config = LabConfig(PREFIX)
    env = {**os.environ, "MAIL_LAB_PREFIX": PREFIX}
    first = subprocess.Popen(
        [*CLI, "up", "--no-services"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    try:
        retry(lambda: _fully_up(config), 30, 0.1, "the first lab")
        record = LabRecord.load(config)
        assert record is not None and record.owner is not None and record.owner.pid == first.pid
        busy = cli("up", "--no-services")
        assert busy.returncode == 2
        assert "already up" in busy.stderr and "Traceback" not in busy.stderr
        assert len(busy.stderr.strip().splitlines()) == 1
    finally:
        # The crash: the CLI dies without tearing anything down.
        first.send_signal(signal.SIGKILL)
        first.communicate(timeout=10)
    assert [n for n in list_namespaces() if n.startswith(PREFIX)], (
        "the crashed lab should have left namespaces"
    )
    second = cli("up", "--keep", "--no-services")
    assert second.returncode == 0, second.stderr
    assert "removing the previous lab" in second.stderr
    status = cli("status")
    assert status.returncode == 0, status.stdout + status.stderr
    down = cli("down")
    assert down.returncode == 0, down.stderr
    assert [n for n in list_namespaces() if n.startswith(PREFIX)] == []
    assert cli("status").returncode == 3


def test_cli_errors_are_one_line() -> None:
    require_lab()
    as_nobody = subprocess.run(
        ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *CLI, "status"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MAIL_LAB_PREFIX": PREFIX, "PYTHONPATH": os.pathsep.join(sys.path)},
        check=False,
    )
    assert as_nobody.returncode == 2
    assert as_nobody.stderr.strip() == "mail-lab: the lab must run as root (network namespaces, mounts)"
    bad_prefix = subprocess.run(
        [*CLI, "status"],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "MAIL_LAB_PREFIX": "Bad Prefix"},
        check=False,
    )
    assert bad_prefix.returncode == 2 and len(bad_prefix.stderr.strip().splitlines()) == 1
    assert "invalid" in bad_prefix.stderr


def test_a_foreground_up_tears_the_lab_down_on_sigterm() -> None:
    require_lab()
    config = LabConfig(PREFIX)
    env = {**os.environ, "MAIL_LAB_PREFIX": PREFIX}
    process = subprocess.Popen([*CLI, "up", "--no-services"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        retry(lambda: _fully_up(config), 30, 0.1, "the lab")
    finally:
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
    assert process.returncode == 0, errors
    assert "SIGTERM: tearing the lab down" in errors
    assert [n for n in list_namespaces() if n.startswith(PREFIX)] == []


def lab_unit_processes(world: World) -> list[ProcessRef]:
    """The main process of every running service of every machine (as the host sees it)."""
    found = []
    for machine in world.machines.values():
        for unit, state, _ in unit_states(machine):
            if state == "active":
                pid = int(machine.succeed(f"systemctl show --property MainPID --value {unit}").strip())
                if pid > 0:
                    found.append(ProcessRef.of(_host_pid(machine, pid)))
    return found


def _host_pid(machine: Machine, pid: int) -> int:
    """A machine's PID as the host numbers it (a container has a PID namespace of its own)."""
    if not isinstance(machine, SystemdMachine) or machine.container is None:
        return pid
    container_ns = os.stat(f"/proc/{machine.container.init.pid}/ns/pid").st_ino
    for host_pid in all_pids():
        try:
            status = Path(f"/proc/{host_pid}/status").read_text()
            if os.stat(f"/proc/{host_pid}/ns/pid").st_ino != container_ns:
                continue
        except OSError:
            continue
        namespaced = next(line for line in status.splitlines() if line.startswith("NSpid:")).split()
        if namespaced[-1] == str(pid):
            return host_pid
    raise AssertionError(f"{machine.name}: no host process for pid {pid}")


def _fully_up(config: LabConfig) -> bool:
    """The lab's record lists every machine running, and its units are all active."""
    record = LabRecord.load(config)
    if record is None or len(record.inits) != 5 or not all(record.inits.values()):
        return False
    status = cli("status")
    return status.returncode == 0 and "wireguard-wg0.service" in status.stdout


def test_a_record_of_another_version_still_names_its_lab() -> None:
    """A record written by another version of the lab (its machines' processes under another key)
    is read, not a crash of teardown."""
    record = LabRecord.from_json({"prefix": PREFIX, "complete": True, "anchors": {"home": None}})
    assert record.prefix == PREFIX and record.inits == {} and record.complete
