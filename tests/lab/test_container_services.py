"""The lab's own daemons (mail_lab.services) as unit files under a machine's real systemd.

The remote machine's units (redis for rspamd, rspamd, postfix), configured by the services code
exactly as for today's lab, become NixOS definitions (mail_lab.units.definitions), are rendered
(mail_lab.units.render) into a container booting Debian's systemd, and are started by it at boot.
"""

from __future__ import annotations

import pytest
from container_support import spec_of, tree
from lab_support import require_nix

from mail_lab.lab.paths import LabConfig
from mail_lab.lab.topology import load_topology
from mail_lab.machine import rootfs
from mail_lab.machine.container import ContainerSpec
from mail_lab.machine.systemd import SystemdMachine
from mail_lab.services import LabCA, units_for
from mail_lab.units.definitions import definitions
from mail_lab.units.plan import tree_programs
from mail_lab.units.render import RenderContext, render_services, upstream_units

pytestmark = [pytest.mark.lab, pytest.mark.slow]
__all__ = ["spec_of", "tree"]  # fixtures


def test_the_remotes_daemons_run_under_systemd(
    spec_of: dict[str, ContainerSpec], tree: rootfs.Tree, tmp_path_factory: pytest.TempPathFactory
) -> None:
    require_nix()
    remote = SystemdMachine(LabConfig("nsp-"), "remote", spec_of["remote"])
    remote.start()
    ca = LabCA.create(tmp_path_factory.mktemp("lab-state"))
    units = units_for(remote, load_topology(), ca)
    assert {u.name for u in units} == {"redis-rspamd.service", "rspamd.service", "postfix.service"}
    context = RenderContext(
        upstream_units=upstream_units(tree.root), packages=rootfs.tree_packages(tree.root)
    )
    render_services(definitions(units, tree_programs(tree.root)), context).install(remote.root_path("/"))
    remote.succeed("systemctl daemon-reload")
    # What the tree's multi-user.target now wants is what a boot starts.
    remote.shutdown()
    remote.start()
    for unit in ("redis-rspamd", "rspamd", "postfix"):
        remote.wait_for_unit(unit, timeout=60)
    assert remote.succeed("redis-cli -s /run/redis-rspamd/redis.sock ping") == "PONG\n"
    remote.wait_until_succeeds("printf 'QUIT\\r\\n' | nc -w 5 127.0.0.1 25 | grep -q '^220 '", timeout=30)
    # Debian's own postfix unit is not what runs: the rendered one is.
    assert remote.get_unit_property("postfix", "FragmentPath") == "/etc/systemd/system/postfix.service"
