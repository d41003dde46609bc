"""The lab's virtual internet, built from the real plans: routing without NAT, isolation, restarts.

One lab (prefix mla-, without the mail daemons) serves the whole module; test servers run as
units, the home one confined to `wg` with the plan's own confinement (its `postfix` fragment).
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_support import PREFIX, echo_unit, main_pid, peer_seen, require_lab, wait_for_ping

from mail_lab.driver import run_script
from mail_lab.lab.topology import TopologyView, bare_address
from mail_lab.lab.world import World
from mail_lab.machine.api import Machine
from mail_lab.net.namespaces import list_namespaces
from mail_lab.units.install import add_units

pytestmark = [pytest.mark.lab]

HOME_PORT = 80  # one of the plan's open ports (home namespace firewall, gateway forward policy)
REMOTE_PORT = 8080


@pytest.fixture(scope="module")
def lab() -> Iterator[dict[str, Any]]:
    require_lab()
    started = time.monotonic()
    world = World.up(prefix=PREFIX, services=False)
    elapsed = time.monotonic() - started
    try:
        home_plan = world.view.home
        # The test server is confined exactly as the plan confines postfix.
        home = world.machines["home"]
        add_units(
            home,
            [echo_unit("lab-echo.service", HOME_PORT), echo_unit("lab-echo-isp.service", 25)],
            {"lab-echo": home_plan.units["postfix"]},
        )
        home.succeed("systemctl start lab-echo.service lab-echo-isp.service")
        remote = world.machines["remote"]
        add_units(
            remote, [echo_unit("lab-echo.service", REMOTE_PORT), echo_unit("lab-echo-25.service", 25)], {}
        )
        remote.succeed("systemctl start lab-echo.service lab-echo-25.service")
        yield {
            "world": world,
            "machines": world.machines,
            "bring_up_seconds": elapsed,
        }
    finally:
        world.down()


def machines(lab: dict[str, Any]) -> dict[str, Machine]:
    result: dict[str, Machine] = lab["machines"]
    return result


def view(lab: dict[str, Any]) -> TopologyView:
    world: World = lab["world"]
    return world.view


def forwarded(lab: dict[str, Any]) -> dict[str, str]:
    return {family: view(lab).home.public_address(family) for family in ("ipv4", "ipv6")}


def test_each_machine_routes_through_its_links_router_and_knows_its_names(lab: dict[str, Any]) -> None:
    """The router's .1 / ::1 of each link (tests/topology.nix `router`) is on the internet machine
    and is each machine's default route; /etc/hosts holds the machine's `hosts`."""
    world = view(lab).world
    links = world["internet"]["links"]
    assert links["edge"]["router"] == {"ipv4": "192.0.2.1/24", "ipv6": "2001:db8:3::1/64"}
    router_addresses = machines(lab)["internet"].succeed("ip -o address show")
    for name, info in world["machines"].items():
        machine = machines(lab)[name]
        router = links[info["link"]]["router"]
        for family, flag in (("ipv4", "-4"), ("ipv6", "-6")):
            assert f" {router[family]} " in router_addresses, (name, family)
            default = machine.succeed(f"ip {flag} route show default")
            assert f"via {bare_address(router[family])} " in default, (name, default)
        hosts = machine.succeed("cat /etc/hosts").splitlines()
        for address, names in info["hosts"].items():
            assert f"{address} {' '.join(names)}" in hosts, (name, hosts)


def tunnel_up(lab: dict[str, Any]) -> None:
    for address in forwarded(lab).values():
        wait_for_ping(machines(lab)["remote"], address)


def isp_counter(lab: dict[str, Any]) -> int:
    ruleset = machines(lab)["internet"].succeed("nft list table inet mail_lab_isp")
    return sum(int(n) for n in re.findall(r"counter packets (\d+)", ruleset))


def test_the_internet_comes_up_in_seconds(lab: dict[str, Any]) -> None:
    assert lab["bring_up_seconds"] < 15, f"bring-up took {lab['bring_up_seconds']:.1f} s"
    for machine in machines(lab).values():
        assert machine.is_up()


def test_remote_reaches_home_namespace_without_nat(lab: dict[str, Any]) -> None:
    tunnel_up(lab)
    remote, home = machines(lab)["remote"], machines(lab)["home"]
    for family, address in forwarded(lab).items():
        remote.succeed(f"ping -c 1 -W 2 {address}")
        assert peer_seen(remote, address, HOME_PORT) == view(lab).machine("remote").address(family)
    # The server that answered is the one in `wg`: nothing listens on that port in home's own namespace.
    assert home.execute(f"nc -z -w 1 127.0.0.1 {HOME_PORT}")[0] != 0


def test_home_namespace_sends_from_the_forwarded_addresses(lab: dict[str, Any]) -> None:
    tunnel_up(lab)
    home = machines(lab)["home"]
    remote_machine = view(lab).machine("remote")
    for family, source in forwarded(lab).items():
        assert peer_seen(home, remote_machine.address(family), REMOTE_PORT, namespace="wg") == source


def test_home_itself_uses_the_isp_and_port_25_is_blocked_both_ways(lab: dict[str, Any]) -> None:
    home, remote = machines(lab)["home"], machines(lab)["remote"]
    remote_machine, home_machine = view(lab).machine("remote"), view(lab).machine("home")
    remote_addresses = {f: remote_machine.address(f) for f in ("ipv4", "ipv6")}
    home_addresses = {f: home_machine.address(f) for f in ("ipv4", "ipv6")}
    for family in ("ipv4", "ipv6"):
        assert peer_seen(home, remote_addresses[family], REMOTE_PORT) == home_addresses[family]
        before = isp_counter(lab)
        home.fail(f"nc -z -w 1 {remote_addresses[family]} 25")
        remote.fail(f"nc -z -w 1 {home_addresses[family]} 25")
        assert isp_counter(lab) >= before + 2, "the ISP's port-25 rules did not see the attempts"
    # The same listeners answer on port 25 inside their own machines: only the ISP line blocks.
    remote.succeed("nc -z -w 2 127.0.0.1 25")
    home.succeed("nc -z -w 2 127.0.0.1 25")


def test_namespace_has_only_the_tunnel_default_routes(lab: dict[str, Any]) -> None:
    home = machines(lab)["home"]
    assert sorted(home.succeed("ip netns list").split()[:1]) == ["wg"]
    links = home.succeed("ip netns exec wg ip -o link show").splitlines()
    assert sorted(line.split(":")[1].strip() for line in links) == ["lo", "wg0"]
    assert home.succeed("ip netns exec wg ip -4 route show default").strip() == "default dev wg0 scope link"
    assert home.succeed("ip netns exec wg ip -6 route show default").split()[:3] == ["default", "dev", "wg0"]
    for family in ("-4", "-6"):
        for route in home.succeed(f"ip netns exec wg ip {family} route show table all").splitlines():
            words = route.split()
            assert words[words.index("dev") + 1] in ("lo", "wg0"), route


def test_gateway_realizes_its_plan(lab: dict[str, Any]) -> None:
    gateway = machines(lab)["gateway"]
    plan = view(lab).gateway
    for route in plan.data["routes"]:
        family = "-6" if ":" in route["destination"] else "-4"
        shown = gateway.succeed(f"ip {family} route show {route['destination']} table {route['table']}")
        assert f"dev {route['dev']}" in shown, (route, shown)
    proxies = gateway.succeed("ip -6 neigh show proxy")
    for neighbour in plan.data["proxyNeighbours"]:
        assert f"{neighbour['address']} dev {neighbour['dev']} proxy" in proxies
    allowed = gateway.succeed("wg show wg0 allowed-ips").split()[1:]
    assert sorted(allowed) == sorted(plan.peers[0]["allowedIPs"])
    assert plan.data["nftables"]["name"] in gateway.succeed("nft list tables")


def test_restarting_the_namespace_restarts_bound_units_into_it(lab: dict[str, Any]) -> None:
    tunnel_up(lab)
    home, remote = machines(lab)["home"], machines(lab)["remote"]
    old_namespace = home.succeed("ip netns exec wg readlink /proc/self/ns/net").strip()
    old_pid = main_pid(home, "lab-echo.service")
    old_tun = main_pid(home, "wireguard-go-wg0.service")
    home.succeed("systemctl restart netns@wg.service")
    new_namespace = home.succeed("ip netns exec wg readlink /proc/self/ns/net").strip()
    assert new_namespace != old_namespace
    for unit in (
        "netns@wg.service",
        "wireguard-wg0.service",
        "wireguard-wg0-peer-gateway.service",
        "lab-echo.service",
    ):
        # The restarts that BindsTo= propagates are jobs of their own, as on NixOS: wait for them.
        home.wait_for_unit(unit, timeout=30)
    new_pid = main_pid(home, "lab-echo.service")
    assert new_pid != old_pid and main_pid(home, "wireguard-go-wg0.service") != old_tun
    assert home.succeed(f"readlink /proc/{new_pid}/ns/net").strip() == new_namespace
    # The confinement settings of the plan apply: resolv.conf is the namespace's.
    resolv = home.succeed(f"cat /proc/{new_pid}/root/etc/resolv.conf")
    assert resolv == view(lab).home.namespace.data["resolvConf"]
    tunnel_up(lab)
    address = forwarded(lab)["ipv6"]
    assert peer_seen(remote, address, HOME_PORT) == view(lab).machine("remote").address("ipv6")


def test_guard_table_drops_non_documentation_traffic(lab: dict[str, Any]) -> None:
    internet, client = machines(lab)["internet"], machines(lab)["client"]
    # Test-only routes toward 198.18.0.1 (RFC 2544 benchmarking, not a documentation address):
    # the packet reaches the router's forward hook, where the guard must drop and count it.
    # Nothing links the lab to the host, so it could not leave in any case.
    client.succeed("ip route replace 198.18.0.1/32 via 192.0.2.1")
    internet.succeed("ip route replace 198.18.0.1/32 dev gateway")
    try:
        before = internet.succeed("nft list chain inet mail_lab_guard forward")
        client.fail("ping -c 1 -W 1 198.18.0.1")
        after = internet.succeed("nft list chain inet mail_lab_guard forward")
    finally:
        client.succeed("ip route del 198.18.0.1/32")
        internet.succeed("ip route del 198.18.0.1/32")
    pattern = r"ip daddr != .* counter packets (\d+)"
    assert int(re.findall(pattern, after)[0]) > int(re.findall(pattern, before)[0])
    # Link-local traffic between the machines on the edge bridge is not dropped.
    remote_v6 = view(lab).machine("remote").address("ipv6")
    client.succeed(f"ping -c 1 -W 2 {remote_v6}")


def test_block_unplugs_the_uplink_and_unblock_restores_it(lab: dict[str, Any]) -> None:
    remote = machines(lab)["remote"]
    gateway_address = view(lab).machine("gateway").address("ipv4")
    remote.succeed(f"ping -c 1 -W 1 {gateway_address}")
    remote.block()
    try:
        remote.fail(f"ping -c 1 -W 1 {gateway_address}")
        assert "NO-CARRIER" in remote.succeed("ip link show eth0")
    finally:
        remote.unblock()
    remote.wait_until_succeeds(f"ping -c 1 -W 1 {gateway_address}", timeout=10)


def test_a_machine_can_be_shut_down_crashed_and_started_again(lab: dict[str, Any]) -> None:
    client, internet = machines(lab)["client"], machines(lab)["internet"]
    address = view(lab).machine("client").address("ipv4")
    namespace = client.namespace
    client.shutdown()
    assert not client.is_up() and namespace not in list_namespaces()
    internet.fail(f"ping -c 1 -W 1 {address}")
    client.start()
    internet.wait_until_succeeds(f"ping -c 1 -W 1 {address}", timeout=10)
    client.crash()
    assert not client.is_up() and namespace not in list_namespaces()
    client.start()
    assert client.succeed("hostname").strip() == "client"
    internet.wait_until_succeeds(f"ping -c 1 -W 1 {address}", timeout=10)


def test_scripts_run_with_the_test_driver_globals(lab: dict[str, Any], tmp_path: Path) -> None:
    script = tmp_path / "script.py"
    script.write_text(
        "start_all()\n"
        "with subtest('driver globals'):\n"
        "    t.assertEqual(len(machines), 5)\n"
        "    home_name = topology['world']['machines']['home']['hostName']\n"
        "    t.assertEqual(home.succeed('hostname').strip(), home_name)\n"
        "    home.wait_for_unit('wireguard-wg0.service', timeout=5)\n"
        "    retry(lambda last: internet.execute('true')[0] == 0, timeout=5)\n"
        "    result = gateway.systemctl('is-active wireguard-wg0.service')\n"
        "peers = received_peers('Received: from a (a [IPv6:2001:db8::1]) by b\\n\\nbody')\n"
    )
    namespace: dict[str, Any] = {}
    prelude = tmp_path / "prelude.py"
    prelude.write_text("from_prelude = remote.name\n")
    run_script(script, lab["world"], [prelude], namespace)
    assert namespace["result"] == (0, "active\n")
    assert namespace["from_prelude"] == "remote"
    # The shared mail/headers.py ran first, as in the VM tests' testScript.
    assert namespace["peers"] == ["2001:db8::1"]
