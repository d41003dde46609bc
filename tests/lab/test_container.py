"""Lab machines as systemd-nspawn containers booting Debian's systemd (mail_lab.machine.container)."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

import pytest
from container_support import MARKER_UNIT, PREFIX, booted, inside, spec_of, tree

from mail_lab.lab.paths import LabConfig
from mail_lab.lab.teardown import teardown
from mail_lab.machine import rootfs
from mail_lab.machine.container import Container, ContainerError, ContainerSpec, find_containers
from mail_lab.net.namespaces import list_namespaces, namespace_path

pytestmark = [pytest.mark.lab, pytest.mark.slow]
__all__ = ["spec_of", "tree"]  # fixtures


def test_boots_debian_systemd_in_the_lab_namespace(spec_of: dict[str, ContainerSpec]) -> None:
    container = booted(spec_of["alpha"])
    assert Path(f"/proc/{container.init.pid}/comm").read_text().strip() == "systemd"
    # PID 1 inside is Debian's systemd, and so is the systemctl a command finds.
    assert inside(container, "readlink /proc/1/exe") == "/usr/lib/systemd/systemd\n"
    assert inside(container, "command -v systemctl") in ("/usr/bin/systemctl\n", "/bin/systemctl\n")
    assert inside(container, "dpkg -S bin/systemctl").startswith("systemd: ")
    assert inside(container, "hostname") == "alpha\n"
    machine_net = os.stat(f"/proc/{container.init.pid}/ns/net").st_ino
    assert machine_net == os.stat(namespace_path(spec_of["alpha"].network_namespace)).st_ino
    assert machine_net != os.stat("/proc/self/ns/net").st_ino
    # Only systemd's own units: the daemons' Debian units are not enabled in the tree.
    assert inside(container, "systemctl is-enabled postfix.service || true").strip() == "disabled"
    # Nor do the packages' generators start anything (postfix's would start postfix@-.service).
    assert inside(container, "systemctl is-active postfix@-.service || true").strip() == "inactive"
    assert inside(container, "systemctl list-units --all --plain --no-legend 'postfix*' | wc -l") == "0\n"


def test_units_confine_with_real_systemd(spec_of: dict[str, ContainerSpec]) -> None:
    """What the plan's confinement rests on, done by systemd itself inside the machine."""
    container = booted(spec_of["alpha"])
    inside(container, "ip netns add wg && ip -n wg link set lo up && ip tuntap add mode tun dev t0")
    inside(container, "ip link set t0 netns wg && mkdir -p /etc/netns/wg")
    inside(container, "echo 'nameserver 192.0.2.53' > /etc/netns/wg/resolv.conf")
    out = inside(
        container,
        "systemd-run --quiet --wait --pipe -p NetworkNamespacePath=/run/netns/wg"
        " -p BindReadOnlyPaths=/etc/netns/wg/resolv.conf:/etc/resolv.conf -p InaccessiblePaths=-/run/nscd"
        " sh -c 'ip -br link; cat /etc/resolv.conf'",
    )
    assert "t0" in out and "lo" in out and "eth0" not in out
    assert "nameserver 192.0.2.53" in out


def test_each_machine_has_its_own_writable_layer(
    spec_of: dict[str, ContainerSpec], tree: rootfs.Tree
) -> None:
    alpha, beta = booted(spec_of["alpha"]), booted(spec_of["beta"])
    inside(alpha, "echo alpha > /etc/mail-lab-mark && mkdir -p /var/lib/mark && touch /var/lib/mark/alpha")
    assert inside(beta, "cat /etc/mail-lab-mark 2>/dev/null || echo none") == "none\n"
    assert not (tree.root / "etc/mail-lab-mark").exists()
    assert (spec_of["alpha"].layer / "etc/mail-lab-mark").read_text() == "alpha\n"
    # The host sees (and may write) the machine's files through the mounted root.
    assert (spec_of["alpha"].root / "var/lib/mark/alpha").exists()


def test_power_off_is_systemds_and_the_layer_survives_it(spec_of: dict[str, ContainerSpec]) -> None:
    spec = spec_of["alpha"]
    container = booted(spec)
    # A clean power-off runs the units' ExecStop.
    inside(container, MARKER_UNIT)
    container.power_off()
    assert not container.nspawn.alive() and not container.init.alive()
    assert not spec.root.is_mount()
    assert (spec.layer / "var/lib/stopped-cleanly").exists()
    again = booted(spec)
    assert inside(again, "test -e /var/lib/stopped-cleanly && echo kept") == "kept\n"


def test_crash_ends_every_process_at_once(spec_of: dict[str, ContainerSpec]) -> None:
    spec = spec_of["alpha"]
    container = booted(spec)
    inside(container, MARKER_UNIT)
    sleeper = int(
        inside(
            container,
            "systemd-run --unit=sleeper sleep 600 && sleep 0.5 && systemctl show -p MainPID --value sleeper",
        ).strip()
    )
    assert sleeper > 0
    pid_namespace = os.stat(f"/proc/{container.init.pid}/ns/pid").st_ino
    assert sleeper in _pids_in(pid_namespace) or len(_pids_in(pid_namespace)) > 3
    container.kill()
    assert not container.nspawn.alive()
    assert _pids_in(pid_namespace) == set()
    assert not (spec.layer / "var/lib/stopped-cleanly").exists(), "a crash must not stop units cleanly"
    assert not spec.root.is_mount()


def test_a_container_left_by_a_crashed_run_is_found_and_removed(spec_of: dict[str, ContainerSpec]) -> None:
    spec = spec_of["alpha"]
    left = booted(spec)
    ours = find_containers(lambda name: name.startswith(PREFIX))
    assert [(c.nspawn, c.init) for c in ours] == [(left.nspawn, left.init)]
    assert find_containers(lambda name: name.startswith("other-")) == []
    for container in ours:
        container.kill()
    assert not left.nspawn.alive() and not left.init.alive()
    assert not spec.root.is_mount()


def test_a_tree_that_does_not_boot_is_reported(spec_of: dict[str, ContainerSpec], tmp_path: Path) -> None:
    spec = spec_of["alpha"]
    broken = ContainerSpec(spec.name, spec.hostname, tmp_path, spec.state_dir, spec.network_namespace)
    with pytest.raises(ContainerError, match="did not start a container"):
        Container.boot(broken)
    assert not broken.root.is_mount()


def _pids_in(pid_namespace: int) -> set[int]:
    """The processes of a PID namespace, seen from the host."""
    pids = set()
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            with contextlib.suppress(OSError):
                if os.stat(f"/proc/{entry}/ns/pid").st_ino == pid_namespace:
                    pids.add(int(entry))
    return pids


def test_the_labs_teardown_removes_a_left_container(spec_of: dict[str, ContainerSpec]) -> None:
    """What `mail-lab down` (and every bring-up, first) does with a container of its prefix."""
    spec = spec_of["alpha"]
    left = booted(spec)
    inside(left, MARKER_UNIT)
    report = teardown(LabConfig(PREFIX))
    assert not left.nspawn.alive() and not left.init.alive()
    assert left.nspawn.pid in report.killed
    assert not spec.root.is_mount()
    assert spec.network_namespace not in list_namespaces()
    # Powered off by systemd, not killed: its units stopped cleanly.
    assert (spec.layer / "var/lib/stopped-cleanly").exists()
