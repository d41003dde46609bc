"""The driver's Machine API on a container booting Debian's systemd (mail_lab.machine.systemd).

The machine is home with the home plan's units (container_support.install_home_plan), plus two
services that show wait_for_unit's failure rules: one that fails, one nothing starts.
"""

from __future__ import annotations

import pytest
from container_support import install_home_plan, spec_of, tree

from mail_lab.lab.paths import LabConfig
from mail_lab.machine import rootfs
from mail_lab.machine.api import MachineError
from mail_lab.machine.container import ContainerSpec
from mail_lab.machine.systemd import SystemdMachine

pytestmark = [pytest.mark.lab, pytest.mark.slow]
__all__ = ["spec_of", "tree"]  # fixtures

EXTRA = {
    "broken": [{"script": "exit 3", "wantedBy": ["multi-user.target"], "serviceConfig": {"Type": "oneshot"}}],
    "idle": [{"script": "true", "serviceConfig": {"Type": "oneshot"}}],
}


@pytest.fixture
def home(spec_of: dict[str, ContainerSpec], tree: rootfs.Tree) -> SystemdMachine:
    machine = SystemdMachine(LabConfig("nsp-"), "home", install_home_plan(spec_of["home"], tree, EXTRA))
    machine.start()
    return machine


def test_commands_and_units_are_the_machines_own(home: SystemdMachine) -> None:
    assert home.succeed("hostname") == "home\n"
    assert home.execute("echo out; exit 4") == (4, "out\n")
    with pytest.raises(MachineError, match="failed"):
        home.succeed("false")
    home.fail("systemctl is-active idle.service")
    home.wait_for_unit("netns@wg.service")
    home.wait_for_unit("postfix")
    assert home.get_unit_property("netns@wg.service", "ActiveState") == "active"
    assert home.get_unit_info("postfix")["NetworkNamespacePath"] == "/run/netns/wg"
    assert home.systemctl("is-active postfix.service") == (0, "active\n")
    home.write_file("/etc/home-mail-note", "written from the host\n")
    assert home.succeed("cat /etc/home-mail-note") == "written from the host\n"


def test_wait_for_unit_fails_as_the_driver_does(home: SystemdMachine) -> None:
    with pytest.raises(MachineError, match=r'unit "broken\.service" reached state "failed"'):
        home.wait_for_unit("broken")
    with pytest.raises(MachineError, match=r'unit "idle\.service" is inactive and there are no pending jobs'):
        home.wait_for_unit("idle", timeout=10)
    with pytest.raises(MachineError, match="does not exist"):
        home.wait_for_unit("no-such-unit", timeout=10)


def test_a_namespace_restart_through_the_api(home: SystemdMachine) -> None:
    before = home.get_unit_property("postfix", "MainPID")
    home.systemctl("restart netns@wg.service")
    home.wait_until_succeeds(f'test "$(systemctl show -p MainPID --value postfix)" != {before}', timeout=10)
    home.wait_for_unit("postfix")


def test_shutdown_crash_and_start(home: SystemdMachine) -> None:
    home.shutdown()
    assert not home.is_up()
    with pytest.raises(MachineError, match="not running"):
        home.succeed("true")
    home.start()
    home.wait_for_unit("postfix")
    home.crash()
    assert not home.is_up()
    home.start()
    home.wait_for_unit("netns@wg.service")
