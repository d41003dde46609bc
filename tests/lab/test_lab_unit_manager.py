"""The unit manager keeps systemd's semantics for what the plans use (on a real lab machine)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
from lab_support import PREFIX, echo_unit, require_lab, wait_for

from mail_lab.machine import Machine, MachineError
from mail_lab.unit_manager import UnitError
from mail_lab.units import Unit
from mail_lab.world import World

pytestmark = [pytest.mark.lab]

SLEEP = [["sleep", "600"]]


@pytest.fixture(scope="module")
def client() -> Iterator[Machine]:
    require_lab()
    world = World.up(prefix=PREFIX, services=False, machines="imitation")
    try:
        yield world.machines["client"]
    finally:
        world.down()


def pid_of(machine: Machine, unit: str) -> int:
    state = machine.units.state(unit)
    assert state.main is not None, unit
    return state.main.pid


def test_start_pulls_in_dependencies_in_after_order(client: Machine) -> None:
    order_file = "/run/order"
    client.units.add(
        [
            Unit(
                name="t-base",
                type="oneshot",
                remain_after_exit=True,
                exec_start=[["sh", "-c", f"echo base >> {order_file}"]],
            ),
            Unit(
                name="t-middle",
                type="oneshot",
                remain_after_exit=True,
                requires=["t-base"],
                after=["t-base"],
                exec_start=[["sh", "-c", f"echo middle >> {order_file}"]],
            ),
            Unit(
                name="t-top",
                exec_start=SLEEP,
                wants=["t-middle"],
                after=["t-middle"],
                exec_start_pre=[["sh", "-c", f"echo top >> {order_file}"]],
            ),
        ]
    )
    client.succeed("systemctl start t-top.service")
    assert client.succeed(f"cat {order_file}").split() == ["base", "middle", "top"]
    for unit in ("t-base.service", "t-middle.service", "t-top.service"):
        client.wait_for_unit(unit, timeout=5)
    assert client.units.state("t-middle").sub_state == "exited"
    assert client.units.state("t-top").sub_state == "running"


def test_stop_and_restart_propagate_along_binds_to_requires_part_of(client: Machine) -> None:
    client.units.add(
        [
            Unit(name="p-ns", type="oneshot", remain_after_exit=True, exec_start=[["true"]]),
            Unit(name="p-bound", exec_start=SLEEP, binds_to=["p-ns"], after=["p-ns"]),
            Unit(name="p-requiring", exec_start=SLEEP, requires=["p-bound"], after=["p-bound"]),
            Unit(name="p-part", exec_start=SLEEP, part_of=["p-ns"]),
            Unit(name="p-unrelated", exec_start=SLEEP, wants=["p-ns"], after=["p-ns"]),
        ]
    )
    names = ["p-ns", "p-bound", "p-requiring", "p-part", "p-unrelated"]
    client.units.start(*names)
    before = {n: pid_of(client, n) for n in names[1:]}
    client.succeed("systemctl restart p-ns.service")
    for name in names:
        client.require_unit_state(name + ".service", "active")
    after = {n: pid_of(client, n) for n in names[1:]}
    assert after["p-unrelated"] == before["p-unrelated"], "Wants= must not propagate a restart"
    for name in ("p-bound", "p-requiring", "p-part"):
        assert after[name] != before[name], f"{name} was not restarted"
    client.succeed("systemctl stop p-ns.service")
    for name in ("p-ns", "p-bound", "p-requiring", "p-part"):
        assert client.units.state(name).active_state == "inactive", name
    assert client.units.is_active("p-unrelated")
    assert not os.path.exists(f"/proc/{after['p-bound']}") or not client.units.is_active("p-bound")


def test_a_dead_main_process_fails_the_unit_and_stops_units_bound_to_it(client: Machine) -> None:
    client.units.add(
        [
            Unit(name="d-main", exec_start=SLEEP),
            Unit(name="d-bound", exec_start=SLEEP, binds_to=["d-main"], after=["d-main"]),
        ]
    )
    client.units.start("d-bound")
    os.kill(pid_of(client, "d-main"), signal.SIGKILL)
    wait_for("d-main to fail", lambda: client.units.state("d-main").active_state == "failed", timeout=5)
    with pytest.raises(MachineError, match="failed"):
        client.wait_for_unit("d-main.service", timeout=5)
    client.units.reconcile()
    assert client.units.state("d-bound").active_state == "inactive"
    assert client.execute("systemctl is-failed d-main.service")[0] == 0
    client.succeed("systemctl reset-failed d-main.service")
    assert client.succeed("systemctl is-active d-main.service || true").strip() == "inactive"


def test_failures_name_the_unit_and_dependents_fail_with_dependency(client: Machine) -> None:
    client.units.add(
        [
            Unit(name="f-broken", type="oneshot", exec_start=[["sh", "-c", "echo cannot start >&2; exit 3"]]),
            Unit(name="f-needs", exec_start=SLEEP, requires=["f-broken"], after=["f-broken"]),
            Unit(name="f-ignored", type="oneshot", exec_start=[["-false"], ["true"]]),
        ]
    )
    with pytest.raises(UnitError, match=r"f-broken\.service failed.*exited with 3") as raised:
        client.units.start("f-needs")
    assert "cannot start" in str(raised.value)
    assert client.units.state("f-needs").result == "dependency"
    code, _ = client.systemctl("start f-needs.service")
    assert code == 1
    client.units.start("f-ignored")  # "-" ignores the failing command, as in systemd
    assert client.units.state("f-ignored").result == "success"
    assert client.systemctl("start no-such.service")[0] == 5


def test_a_port_in_use_is_reported_as_such(client: Machine) -> None:
    client.units.add([echo_unit("e-first.service", 7000), echo_unit("e-second.service", 7000)])
    client.units.start("e-first.service")
    client.wait_for_open_port(7000, timeout=5)
    with pytest.raises(UnitError, match=r"e-second.service failed \(port in use\)"):
        client.units.start("e-second.service")


def test_confinement_settings_apply_to_the_process(client: Machine) -> None:
    client.succeed("ip netns add inner && ip -n inner link set lo up")
    client.succeed("mkdir -p /etc/netns/inner && echo 'nameserver 192.0.2.99' > /etc/netns/inner/resolv.conf")
    client.units.add(
        [
            Unit(
                name="c-confined",
                exec_start=SLEEP,
                network_namespace_path="/run/netns/inner",
                bind_read_only_paths=["/etc/netns/inner/resolv.conf:/etc/resolv.conf"],
                inaccessible_paths=["-/run/nscd", "/etc/hostname"],
                user="nobody",
            ),
        ]
    )
    client.units.start("c-confined")
    pid = pid_of(client, "c-confined")
    inner = client.succeed("ip netns exec inner readlink /proc/self/ns/net").strip()
    assert client.succeed(f"readlink /proc/{pid}/ns/net").strip() == inner
    assert client.succeed(f"cat /proc/{pid}/root/etc/resolv.conf").strip() == "nameserver 192.0.2.99"
    assert "nameserver 192.0.2.53" in client.succeed("cat /etc/resolv.conf"), "the machine's own file changed"
    assert client.succeed(f"stat -c %a /proc/{pid}/root/etc/hostname").strip() == "0"
    assert client.succeed(f"stat -c %U /proc/{pid}").strip() == "nobody"
    mounts = client.succeed(f"cat /proc/{pid}/mountinfo")
    assert " /etc/resolv.conf ro," in mounts
    client.units.stop("c-confined")
    client.succeed("ip netns delete inner")


def test_a_bound_and_wanted_unit_follows_stop_start_and_restart_of_the_unit_it_is_bound_to(
    client: Machine,
) -> None:
    """The home plan's wiring of confined units (BindsTo= + After= netns@<ns>, wanted by it):
    stop stops them, start starts them again, restart also starts one that was stopped before.
    BindsTo= alone (t-bound-only) follows the stop but not the start, as in systemd."""
    client.units.add(
        [
            Unit(
                name="t-ns", type="oneshot", remain_after_exit=True, exec_start=[["true"]], wants=["t-bound"]
            ),
            Unit(name="t-bound", exec_start=SLEEP, binds_to=["t-ns"], after=["t-ns"]),
            Unit(name="t-bound-only", exec_start=SLEEP, binds_to=["t-ns"], after=["t-ns"]),
        ]
    )
    client.units.start("t-ns", "t-bound-only")
    assert client.units.is_active("t-bound") and client.units.is_active("t-bound-only")
    client.units.stop("t-ns")
    assert not client.units.is_active("t-bound") and not client.units.is_active("t-bound-only")
    client.units.start("t-ns")
    assert client.units.is_active("t-bound"), "a start of the unit it is bound to and wanted by starts it"
    assert not client.units.is_active("t-bound-only"), "BindsTo= alone starts nothing"
    first = pid_of(client, "t-bound")
    client.units.stop("t-bound")
    client.units.restart("t-ns")
    assert client.units.is_active("t-bound") and pid_of(client, "t-bound") != first
    client.units.stop("t-ns")
