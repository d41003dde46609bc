"""The home plan's units rendered (mail_lab.units.plan + units.render) and run by real systemd.

A container booted with the rendered units: `netns@wg` (the template plus the instance's drop-in)
is started by its .wants link, applies the plan's sysctls and firewall in `wg`, and a service
confined by the plan (a stand-in daemon under the name `postfix`, merged with the plan's
fragment) runs in `wg`, sees the namespace's resolv.conf, and is restarted into the new namespace
when `netns@wg` restarts, by systemd's own BindsTo= semantics.
"""

from __future__ import annotations

import pytest
from container_support import booted, inside, install_home_plan, spec_of, tree
from lab_support import require_nix

from mail_lab.lab.paths import LabConfig
from mail_lab.lab.topology import TopologyView, load_topology
from mail_lab.machine import rootfs
from mail_lab.machine.container import Container, ContainerSpec
from mail_lab.machine.systemd import SystemdMachine
from mail_lab.polling import retry
from mail_lab.services.kresd import kresd_unit
from mail_lab.services.world import MailWorld
from mail_lab.units.definitions import definitions, target_definitions
from mail_lab.units.plan import plan_services, tree_programs
from mail_lab.units.render import RenderContext, render_services, upstream_units

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
    # netns@wg's job is done, postfix's may still be running.

    def restarted() -> str | None:
        pid = inside(home, "systemctl show -p MainPID --value postfix").strip()
        return pid if pid not in ("0", before_pid) else None

    after_pid = retry(restarted, 10, 0.1, "postfix to run again")
    after_ns = inside(home, "stat -L -c %i /run/netns/wg").strip()
    assert after_ns != before_ns, "netns@wg's restart made a new namespace"
    assert net_inode(home, after_pid) == after_ns


def test_the_plans_kresd_fragment_reaches_the_instance_of_the_lab_s_kresd_template(
    spec_of: dict[str, ContainerSpec], tree: rootfs.Tree
) -> None:
    """kresd in NixOS's shape: the template the package ships, the lab's settings and the plan's
    `kresd@1` fragment as drop-ins, kresd.target wanting the instance; kresd@1 runs in `wg`."""
    home = SystemdMachine(LabConfig("nsp-"), "home", install_home_plan(spec_of["home"], tree))
    home.start()
    units = [kresd_unit(home, MailWorld.from_topology(load_topology()))]
    context = RenderContext(
        upstream_units=upstream_units(tree.root), packages=rootfs.tree_packages(tree.root)
    )
    programs = tree_programs(tree.root)
    rendered = render_services(definitions(units, programs), context, target_definitions(units))
    rendered.install(home.root_path("/"))
    assert "/etc/systemd/system/kresd@.service.d/overrides.conf" in rendered.files
    assert "/etc/systemd/system/kresd@1.service" not in rendered.files
    # What a boot starts: multi-user.target wants kresd.target, which wants kresd@1.
    home.shutdown()
    home.start()
    home.wait_for_unit("kresd@1.service", timeout=60)
    assert home.get_unit_property("kresd@1", "FragmentPath") == "/lib/systemd/system/kresd@.service"
    main = home.succeed("systemctl show -p MainPID --value kresd@1").strip()
    wg = home.succeed("stat -L -c %i /run/netns/wg").strip()
    assert home.succeed(f"stat -L -c %i /proc/{main}/ns/net").strip() == wg
    assert "kresd@1.service" in home.succeed("systemctl list-dependencies --plain kresd.target")


def test_the_gateway_plans_endpoint_saver_finds_wg_on_its_path(tree: rootfs.Tree) -> None:
    """The plan-only saver's script runs `wg`: its `path` (the plan's package names) is on PATH."""
    require_nix()
    services = plan_services("gateway", tree_programs(tree.root))
    context = RenderContext(packages=rootfs.tree_packages(tree.root))
    saver = str(TopologyView(load_topology()).gateway.endpoint_memory["unit"])
    text = render_services({saver: [services[saver]]}, context).files[f"/etc/systemd/system/{saver}.service"]
    path = next(line for line in text.splitlines() if line.startswith('Environment="PATH='))
    wg_dir = f"{rootfs.PACKAGE_PROGRAMS}/wireguard-tools/bin"
    assert wg_dir in path.split("=", 2)[2].rstrip('"').split(":")
    assert (tree.root / wg_dir.lstrip("/") / "wg").exists()
