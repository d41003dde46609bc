"""How the lab reads the plans: units as the renderer writes them (needs the machines' tree),
WireGuard commands, safety checks."""

from __future__ import annotations

import copy
import functools
import shlex
from pathlib import Path
from typing import Any

import pytest
from container_support import tree
from lab_support import require_nix

from mail_lab import preflight
from mail_lab.lab import safety
from mail_lab.lab.audit import audit_topology
from mail_lab.lab.topology import Plan, PlanError, TopologyView, load_topology, nix_expression
from mail_lab.machine import rootfs
from mail_lab.net.wireguard import WireguardPlanError, plan_routes, wireguard_units
from mail_lab.units.definitions import target_definitions
from mail_lab.units.install import machine_services
from mail_lab.units.render import RenderContext, RenderedUnits, render_services, upstream_units
from mail_lab.units.unit import Unit

__all__ = ["tree"]  # a fixture
UNITS = "/etc/systemd/system"


@functools.cache
def _topology(overrides: str = "") -> dict[str, Any]:
    return load_topology({"home": {"addresses": overrides.split()}} if overrides else None)


@pytest.fixture
def topology() -> dict[str, Any]:
    require_nix()
    return copy.deepcopy(_topology())


def by_name(units: list[Unit]) -> dict[str, Unit]:
    return {unit.name: unit for unit in units}


def rendered(tree: rootfs.Tree, plan: Plan, units: list[Unit]) -> RenderedUnits:
    """A machine's units as the world installs them: the lab's and the plan's, by the renderer."""
    services = machine_services(tree.root, plan.role, units, plan.units)
    context = RenderContext(
        upstream_units=upstream_units(tree.root), packages=rootfs.tree_packages(tree.root)
    )
    return render_services(services, context, target_definitions(units))


def settings(out: RenderedUnits, path: str) -> dict[str, list[str]]:
    """`Key` -> its values, in order, of a rendered unit file or drop-in below /etc/systemd/system."""
    found: dict[str, list[str]] = {}
    for line in out.files[f"{UNITS}/{path}"].splitlines():
        if "=" in line and not line.startswith("["):
            key, value = line.split("=", 1)
            found.setdefault(key, []).append(value)
    return found


def commands(values: list[str]) -> list[list[str]]:
    """Exec lines as argv, each program by its name (the tree's path left off)."""
    argvs = [shlex.split(value.lstrip("-")) for value in values]
    return [[Path(argv[0]).name, *argv[1:]] for argv in argvs]


def test_nix_expression_round_trips_through_nix(topology: dict[str, Any]) -> None:
    assert nix_expression({"a": [1, "x${y}", None, True]}) == '{ "a" = [ (1) ("x\\${y}") (null) (true) ]; }'
    changed = _topology("198.51.100.12/32 2001:db8:1::12/128")
    assert changed["plans"]["home"]["addresses"] == {"ipv4": ["198.51.100.12"], "ipv6": ["2001:db8:1::12"]}
    assert changed["plans"]["gateway"]["proxyNeighbours"][0]["address"] == "2001:db8:1::12"


def test_the_netns_instance_is_the_template_and_a_drop_in(
    topology: dict[str, Any], tree: rootfs.Tree
) -> None:
    home = TopologyView(topology).home
    out = rendered(tree, home, wireguard_units(home))
    template = settings(out, "netns@.service")
    assert template["Type"] == ["oneshot"] and template["RemainAfterExit"] == ["true"]
    assert template["ExecStartPre"][0].startswith("-")
    assert commands(template["ExecStartPre"]) == [["ip", "netns", "delete", "%i"]]
    assert commands(template["ExecStart"]) == [["ip", "netns", "add", "%i"]]
    assert commands(template["ExecStartPost"]) == [["ip", "-n", "%i", "link", "set", "lo", "up"]]
    # asDropin: no unit file of the instance's own (it would hide the template); systemd runs the
    # template's ExecStartPost first, then the drop-in's (sysctls, then the firewall) in `wg`.
    assert f"{UNITS}/netns@wg.service" not in out.files
    drop_in = commands(settings(out, "netns@wg.service.d/overrides.conf")["ExecStartPost"])
    assert [argv[:3] for argv in drop_in] == [["nsenter", "--net=/run/netns/wg", "--"]] * 2
    assert [Path(argv[3]).name for argv in drop_in] == ["sysctl", "nft"]
    assert f"{UNITS}/multi-user.target.wants/netns@wg.service" in out.links
    wireguard = settings(out, "wireguard-wg0.service")
    assert "netns@wg.service" in wireguard["BindsTo"][0].split()
    assert "netns@wg.service" in wireguard["After"][0].split()
    assert f"{UNITS}/netns@wg.service.wants/wireguard-wg0.service" in out.links


def test_a_service_only_the_plan_defines_is_wanted_by_its_interface(
    topology: dict[str, Any], tree: rootfs.Tree
) -> None:
    gateway = TopologyView(topology).gateway
    saver = gateway.endpoint_memory["unit"]
    out = rendered(tree, gateway, wireguard_units(gateway))
    unit = settings(out, f"{saver}.service")
    assert unit["Type"] == ["simple"] and "RemainAfterExit" not in unit
    assert unit["BindsTo"] == unit["After"] == ["wireguard-wg0.service"]
    assert [argv[:2] for argv in commands(unit["ExecStart"])] == [["sh", "-c"]]
    # wantedBy: (re)starting the interface starts the loop again, by the .wants link.
    assert f"{UNITS}/wireguard-wg0.service.wants/{saver}.service" in out.links


def test_confinement_reaches_service_units_and_template_instances(
    topology: dict[str, Any], tree: rootfs.Tree
) -> None:
    home = TopologyView(topology).home
    lab_units = [
        Unit(name="postfix.service", exec_start=[["postfix", "start-fg"]], after=["rspamd.service"]),
        Unit(name="kresd@1.service", exec_start=[["kresd"]]),
    ]
    out = rendered(tree, home, lab_units)
    # postfix: the lab's unit file with the plan's fragment in it; kresd@1: a drop-in of the
    # instance, beside the lab's drop-in of Debian's kresd@ template.
    for path in ("postfix.service", "kresd@1.service.d/overrides.conf"):
        unit = settings(out, path)
        assert unit["NetworkNamespacePath"] == ["/run/netns/wg"], path
        assert unit["BindsTo"] == ["netns@wg.service"], path
        assert unit["BindReadOnlyPaths"] == ["/etc/netns/wg/resolv.conf:/etc/resolv.conf"], path
        assert unit["InaccessiblePaths"] == ["-/run/nscd"], path
    assert settings(out, "postfix.service")["After"][0].split()[0] == "rspamd.service", (
        "the lab's order is kept"
    )
    assert f"{UNITS}/netns@wg.service.wants/postfix.service" in out.links


def test_wireguard_units_follow_the_nixos_script_backend(topology: dict[str, Any]) -> None:
    home = TopologyView(topology).home
    units = by_name(wireguard_units(home))
    interface = units["wireguard-wg0.service"]
    # Born in the machine's namespace (the UDP socket stays there), then moved into `wg`.
    assert interface.exec_start[0] == ["ip", "link", "set", "wg0", "netns", "wg"]
    assert [
        "nsenter",
        "--net=/run/netns/wg",
        "--",
        "ip",
        "address",
        "add",
        "198.51.100.11/32",
        "dev",
        "wg0",
    ] in (interface.exec_start)
    tun = units["wireguard-go-wg0.service"]
    assert tun.network_namespace_path is None
    # The plan's preSetup, where NixOS runs it: in the host's namespace before the interface is made.
    assert tun.exec_start_pre == home.wireguard["preSetup"] != []
    peer = units["wireguard-wg0-peer-gateway.service"]
    assert peer.requires == ["wireguard-wg0.service"]
    assert peer.exec_start[0][-4:] == ["persistent-keepalive", "25", "allowed-ips", "0.0.0.0/0,::/0"]
    for role in ("home", "gateway"):
        plan = TopologyView(topology).plan(role)
        assert plan_routes(plan.wireguard) == plan.data["routes"], role


def test_wireguard_units_enter_only_the_namespaces_the_plan_makes(topology: dict[str, Any]) -> None:
    home = topology["plans"]["home"]
    home["wireguard"]["interfaceNamespace"] = "elsewhere"
    with pytest.raises(WireguardPlanError, match=r"network namespace 'elsewhere'.*only \['init', 'wg'\]"):
        wireguard_units(Plan(home))


def test_the_topology_view_reads_the_plans_names(topology: dict[str, Any]) -> None:
    view = TopologyView(topology)
    assert (view.home.interface, view.home.interface_unit) == ("wg0", "wireguard-wg0.service")
    assert view.gateway.peer_unit("home") == "wireguard-wg0-peer-home.service"
    assert (view.home.namespace.name, view.home.namespace.path) == ("wg", "/run/netns/wg")
    assert view.gateway.endpoint_memory["unit"] == "home-mail-endpoints-wg0"
    assert view.home.delivery["postfixMain"] == {"lmtp_destination_concurrency_limit": 1}
    assert [view.home.public_address(f) for f in ("ipv4", "ipv6")] == ["198.51.100.11", "2001:db8:1::11"]
    remote = view.machine("remote")
    assert (remote.interface_address("ipv4"), remote.address("ipv4")) == ("192.0.2.10/24", "192.0.2.10")
    assert (remote.fqdn, view.account("home"), view.domain("remote")) == (
        "mx.example.net",
        "alice@example.org",
        "example.net",
    )
    assert view.keys["home"]["public"] == topology["world"]["keys"]["home"]["public"]
    assert view.doctor("home")["plan"] == topology["plans"]["home"]
    with pytest.raises(PlanError, match=r"plans\.gateway has no namespace"):
        _ = view.gateway.namespace.path
    with pytest.raises(ValueError, match="address family 'ipv5'"):
        view.home.public_address("ipv5")
    assert view.data is topology, "the view leaves the JSON as it is"


def test_safety_refuses_anything_but_documentation_addresses() -> None:
    for value in ("198.51.100.11/32", "2001:db8:1::11/128", "192.0.2.53"):
        safety.documentation_interface(value, "test")
    for value in ("10.0.0.1/8", "8.8.8.8", "2001:db9::1/64", "192.0.2.0/23", "::1"):
        with pytest.raises(safety.SafetyError, match="not a documentation address"):
            safety.documentation_interface(value, "test")
    assert str(safety.route_destination("::/0", "test")) == "::/0"
    with pytest.raises(safety.SafetyError):
        safety.route_destination("10.0.0.0/8", "test")
    with pytest.raises(safety.SafetyError):
        safety.endpoint_address("[2001:4860::1]:51820", "test")


def test_audit_names_every_bad_address(topology: dict[str, Any]) -> None:
    audit_topology(topology)
    topology["world"]["machines"]["remote"]["ipv4"] = "10.1.2.3/24"
    topology["plans"]["home"]["wireguard"]["peers"][0]["endpoint"] = "1.2.3.4:51820"
    topology["world"]["internet"]["links"]["edge"]["router"]["ipv6"] = "2001:db9::1/64"
    with pytest.raises(safety.SafetyError) as raised:
        audit_topology(topology)
    assert "world.machines.remote.ipv4" in str(raised.value)
    assert "world.internet.links.edge.router.ipv6" in str(raised.value)
    assert "plans.home.wireguard.peers.endpoint" in str(raised.value)


def test_missing_programs_name_their_debian_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ip").write_text("#!/bin/sh\n")
    (tmp_path / "ip").chmod(0o755)
    monkeypatch.setattr(preflight, "SEARCH_PATH", str(tmp_path))
    missing = preflight.missing_programs(services=False)
    assert "ip" not in missing
    assert missing["wg"] == "wireguard-tools" and missing["nft"] == "nftables"
