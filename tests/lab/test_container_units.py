"""The home plan's units rendered (mail_lab.plan_services + unit_render) and run by real systemd.

A container booted with the rendered units: `netns@wg` (the template plus the instance's drop-in)
is started by its .wants link, applies the plan's sysctls and firewall in `wg`, and a service
confined by the plan (a stand-in daemon under the name `postfix`, merged with the plan's
fragment) runs in `wg`, sees the namespace's resolv.conf, and is restarted into the new namespace
when `netns@wg` restarts, by systemd's own BindsTo= semantics.
"""

from __future__ import annotations

import pytest
from container_support import booted, inside, install_home_plan, spec_of, tree
from lab_support import wait_for

from mail_lab import rootfs
from mail_lab.container import Container, ContainerSpec

pytestmark = [pytest.mark.lab, pytest.mark.slow]
__all__ = ["spec_of", "tree"]  # fixtures


def net_inode(container: Container, pid_expression: str) -> str:
    return inside(container, f"stat -L -c %i /proc/{pid_expression}/ns/net").strip()


def test_the_plans_namespace_and_a_confined_service_on_real_systemd(
    spec_of: dict[str, ContainerSpec], tree: rootfs.Tree
) -> None:
    home = booted(install_home_plan(spec_of["home"], tree))
    assert inside(home, "systemctl is-active netns@wg.service postfix.service") == "active\nactive\n"
    # The template's ExecStartPost and the drop-in's both ran, the template's first.
    assert inside(home, "ip netns exec wg sysctl -n net.ipv6.conf.all.accept_ra") == "0\n"
    assert "table inet home_mail_netns" in inside(home, "ip netns exec wg nft list tables")
    assert "UP" in inside(home, "ip -n wg -br link show lo")
    # postfix runs in `wg`, with the namespace's resolv.conf and no nscd.
    main = inside(home, "systemctl show -p MainPID --value postfix").strip()
    assert net_inode(home, main) == inside(home, "stat -L -c %i /run/netns/wg").strip()
    assert net_inode(home, main) != net_inode(home, "1")
    resolv = inside(home, f"cat /proc/{main}/root/etc/resolv.conf")
    assert resolv == spec_of["home"].root.joinpath("etc/netns/wg/resolv.conf").read_text()


def test_restarting_the_namespace_restarts_the_confined_service_into_the_new_one(
    spec_of: dict[str, ContainerSpec], tree: rootfs.Tree
) -> None:
    home = booted(install_home_plan(spec_of["home"], tree))
    before_pid = inside(home, "systemctl show -p MainPID --value postfix").strip()
    before_ns = inside(home, "stat -L -c %i /run/netns/wg").strip()
    inside(home, "systemctl restart netns@wg.service")
    # The restart that BindsTo= propagates is a job of its own: `systemctl restart` returns when
    # netns@wg's job is done, postfix's may still be running (the imitation did both at once).

    def restarted() -> str | None:
        pid = inside(home, "systemctl show -p MainPID --value postfix").strip()
        return pid if pid not in ("0", before_pid) else None

    after_pid = wait_for("postfix to run again", restarted, timeout=10)
    after_ns = inside(home, "stat -L -c %i /run/netns/wg").strip()
    assert after_ns != before_ns, "netns@wg's restart made a new namespace"
    assert net_inode(home, after_pid) == after_ns
