"""How the lab reads the plans (no root needed): units, WireGuard commands, safety checks."""

from __future__ import annotations

import copy
import functools
from pathlib import Path
from typing import Any

import pytest
from lab_support import require_nix

from mail_lab import plans, preflight, safety
from mail_lab.audit import audit_topology
from mail_lab.plan_units import PlanUnitError, merge_plan_units
from mail_lab.units import Unit
from mail_lab.wireguard import plan_routes, wireguard_units


@functools.cache
def _topology(overrides: str = "") -> dict[str, Any]:
    return plans.load_topology({"home": {"addresses": overrides.split()}} if overrides else None)


@pytest.fixture
def topology() -> dict[str, Any]:
    require_nix()
    return copy.deepcopy(_topology())


def by_name(units: list[Unit]) -> dict[str, Unit]:
    return {unit.name: unit for unit in units}


def test_nix_expression_round_trips_through_nix(topology: dict[str, Any]) -> None:
    assert (
        plans.nix_expression({"a": [1, "x${y}", None, True]})
        == '{ "a" = [ (1) ("x\\${y}") (null) (true) ]; }'
    )
    changed = _topology("198.51.100.12/32 2001:db8:1::12/128")
    assert changed["plans"]["home"]["addresses"] == {"ipv4": ["198.51.100.12"], "ipv6": ["2001:db8:1::12"]}
    assert changed["plans"]["gateway"]["proxyNeighbours"][0]["address"] == "2001:db8:1::12"


def test_the_netns_instance_is_built_from_template_and_drop_in(topology: dict[str, Any]) -> None:
    home = topology["plans"]["home"]
    merged = merge_plan_units(wireguard_units(home["wireguard"]), home["units"])
    units = by_name(merged.units)
    netns = units["netns@wg.service"]
    assert netns.type == "oneshot" and netns.remain_after_exit
    assert netns.exec_start_pre == [["-ip", "netns", "delete", "wg"]]
    assert netns.exec_start == [["ip", "netns", "add", "wg"]]
    # The template's post command first, then the drop-in's (sysctls, firewall).
    assert netns.exec_start_post[0] == ["ip", "-n", "wg", "link", "set", "lo", "up"]
    assert [c[3] for c in netns.exec_start_post[1:]] == ["sysctl", "nft"]
    wireguard = units["wireguard-wg0.service"]
    assert "netns@wg.service" in wireguard.binds_to and "netns@wg.service" in wireguard.after
    # Confined services the lab does not run (no services here) are reported, not invented.
    assert set(merged.unmatched) == {"postfix", "dovecot", "kresd@1", "acme-order-renew-mail.example.org"}


def test_a_service_only_the_plan_defines_is_built_and_wanted_by_its_interface(
    topology: dict[str, Any],
) -> None:
    gateway = topology["plans"]["gateway"]
    saver_key = gateway["endpointMemory"]["unit"]
    saver_name = f"{saver_key}.service"
    merged = merge_plan_units(wireguard_units(gateway["wireguard"]), gateway["units"])
    units = by_name(merged.units)
    saver = units[saver_name]
    assert saver.type == "simple" and not saver.remain_after_exit
    assert saver.exec_start == gateway["units"][saver_key]["serviceConfig"]["ExecStart"]
    assert saver.binds_to == saver.after == ["wireguard-wg0.service"]
    # wantedBy: (re)starting the interface starts the loop again, as NixOS' wants symlink does.
    assert saver_name in units["wireguard-wg0.service"].wants
    assert merged.unmatched == []
    # A fragment without ExecStart= for a unit the lab does not run is reported, not invented.
    assert merge_plan_units([], {"opendkim": {"after": ["x.service"]}}).unmatched == ["opendkim"]


def test_confinement_applies_to_service_units_and_template_instances(topology: dict[str, Any]) -> None:
    home = topology["plans"]["home"]
    lab_units = [
        Unit(name="postfix.service", exec_start=[["postfix", "start-fg"]], after=["rspamd.service"]),
        Unit(name="kresd@1.service", exec_start=[["kresd"]]),
    ]
    units = by_name(merge_plan_units(lab_units, home["units"]).units)
    for name in ("postfix.service", "kresd@1.service"):
        unit = units[name]
        assert unit.network_namespace_path == "/run/netns/wg"
        assert unit.binds_to == ["netns@wg.service"]
        assert unit.bind_read_only_paths == ["/etc/netns/wg/resolv.conf:/etc/resolv.conf"]
        assert unit.inaccessible_paths == ["-/run/nscd"]
    assert units["postfix.service"].after[0] == "rspamd.service", "the lab's own ordering is kept"


def test_unknown_plan_settings_are_refused(topology: dict[str, Any]) -> None:
    fragments = {"postfix": {"serviceConfig": {"PrivateNetwork": True}}}
    with pytest.raises(PlanUnitError, match=r"serviceConfig\.PrivateNetwork"):
        merge_plan_units([Unit(name="postfix", exec_start=[["postfix"]])], fragments)


def test_wireguard_units_follow_the_nixos_script_backend(topology: dict[str, Any]) -> None:
    home_wg = topology["plans"]["home"]["wireguard"]
    units = by_name(wireguard_units(home_wg))
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
    assert tun.exec_start_pre == home_wg["preSetup"] != []
    peer = units["wireguard-wg0-peer-gateway.service"]
    assert peer.requires == ["wireguard-wg0.service"]
    assert peer.exec_start[0][-4:] == ["persistent-keepalive", "25", "allowed-ips", "0.0.0.0/0,::/0"]
    for role in ("home", "gateway"):
        plan = topology["plans"][role]
        assert plan_routes(plan["wireguard"]) == plan["routes"], role


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
    with pytest.raises(safety.SafetyError) as raised:
        audit_topology(topology)
    assert "world.machines.remote.ipv4" in str(raised.value)
    assert "plans.home.wireguard.peers.endpoint" in str(raised.value)


def test_missing_programs_name_their_debian_packages(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "ip").write_text("#!/bin/sh\n")
    (tmp_path / "ip").chmod(0o755)
    monkeypatch.setattr(preflight, "SEARCH_PATH", str(tmp_path))
    missing = preflight.missing_programs(services=False)
    assert "ip" not in missing
    assert missing["wg"] == "wireguard-tools" and missing["nft"] == "nftables"
