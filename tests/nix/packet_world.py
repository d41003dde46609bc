"""Throwaway namespaces wired around a ruleset of the plans, probes sent through it, arrivals recorded.

    with gateway_world(plan, tmp_path, extra_destinations) as world:   # outside | gateway | inside
        send(world.outside, [probe(...), ...])
        arrivals(world.inside)                                          # what got through

The ruleset under test is loaded with nft into the middle namespace; every other namespace has no
filter but a recorder: a table that puts each arriving TCP SYN (with its MSS option), UDP datagram
and ICMP echo into a dynamic set and then drops it (so nothing answers and nothing else decides).
Only documentation addresses; the namespaces are plan_nft's prefix-named throwaway ones.
"""

from __future__ import annotations

import ipaddress
import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from plan_nft import load_ruleset, nft_in, run, throwaway_namespaces

SENDER = Path(__file__).with_name("packet_sender.py")
RECORDER_TABLE = "probe_recorder"
# The links between the namespaces (documentation prefixes the plans of the tests do not use).
OUTSIDE_LINK = {4: ("192.0.2.1", "192.0.2.2", 26), 6: ("2001:db8:ff00::1", "2001:db8:ff00::2", 64)}
INSIDE_LINK = {4: ("192.0.2.65", "192.0.2.66", 26), 6: ("2001:db8:ff01::1", "2001:db8:ff01::2", 64)}
SENT_MSS = 1460
# A right ruleset lets a few dozen probes through; a broken one that lets all through fills the
# sets, which still shows it, and listing a few thousand elements stays fast.
RECORDED_AT_MOST = 4096


class Arrival(NamedTuple):
    """One probe that reached the recording namespace; `port` is the ICMP type's name for icmp."""

    protocol: str
    source: str
    destination: str
    port: int | str
    mss: int | None = None


def probe(protocol: str, source: str, destination: str, ports: Iterable[int] = ()) -> dict[str, Any]:
    """A job for packet_sender.py: one packet per port (icmp: one echo request)."""
    ranges = [[port, port] for port in sorted(set(ports))]
    return {
        "protocol": protocol,
        "source": source,
        "destination": destination,
        "ports": ranges,
        "mss": SENT_MSS,
    }


def every_port(protocol: str, source: str, destination: str) -> dict[str, Any]:
    job = probe(protocol, source, destination)
    job["ports"] = [[1, 65535]]
    return job


def recorder_ruleset(hook: str, priority: str) -> str:
    keys = {
        "tcp4": ("ip saddr . ip daddr . tcp dport . tcp option maxseg size", "ip protocol tcp tcp flags syn"),
        "udp4": ("ip saddr . ip daddr . udp dport", "ip protocol udp"),
        "icmp4": ("ip saddr . ip daddr . icmp type", "ip protocol icmp icmp type echo-request"),
        "tcp6": (
            "ip6 saddr . ip6 daddr . tcp dport . tcp option maxseg size",
            "meta l4proto tcp tcp flags syn",
        ),
        "udp6": ("ip6 saddr . ip6 daddr . udp dport", "meta nfproto ipv6 meta l4proto udp"),
        "icmp6": ("ip6 saddr . ip6 daddr . icmpv6 type", "meta l4proto ipv6-icmp icmpv6 type echo-request"),
    }
    sets = "".join(
        f"\tset {name} {{ typeof {key}; flags dynamic; size {RECORDED_AT_MOST}; }}\n"
        for name, (key, _) in keys.items()
    )
    rules = "".join(f"\t\t{match} add @{name} {{ {key} }}\n" for name, (key, match) in keys.items())
    return (
        f"table inet {RECORDER_TABLE} {{\n{sets}"
        f"\tchain seen {{\n\t\ttype filter hook {hook} priority {priority}; policy accept;\n"
        f"{rules}\t\tdrop\n\t}}\n}}\n"
    )


def arrivals(namespace: str) -> set[Arrival]:
    """Everything the recorder of `namespace` has seen so far."""
    found: set[Arrival] = set()
    for name in ("tcp4", "udp4", "icmp4", "tcp6", "udp6", "icmp6"):
        listed = nft_in(namespace, "-j", "list", "set", "inet", RECORDER_TABLE, name)
        if listed.returncode != 0:
            raise RuntimeError(f"nft list set {name}: {listed.stderr}")
        for item in json.loads(listed.stdout)["nftables"]:
            for element in item.get("set", {}).get("elem", []):
                value = element["elem"]["val"] if isinstance(element, dict) and "elem" in element else element
                source, destination, port, *mss = value["concat"]
                protocol = name[:-1]
                kind = str(port) if protocol == "icmp" else int(port)
                found.add(Arrival(protocol, str(source), str(destination), kind, *map(int, mss)))
    return found


def send(namespace: str, probes: list[dict[str, Any]]) -> None:
    job = json.dumps({"probes": probes})
    result = run(["ip", "netns", "exec", namespace, sys.executable, str(SENDER), job])
    if result.returncode != 0:
        raise RuntimeError(f"packet_sender in {namespace} failed: {result.stderr}")


def ip(namespace: str, *arguments: str) -> None:
    result = run(["ip", "-n", namespace, *arguments])
    if result.returncode != 0:
        raise RuntimeError(f"ip -n {namespace} {' '.join(arguments)}: {result.stderr.strip()}")


def sysctl(namespace: str, *settings: str) -> None:
    result = run(["ip", "netns", "exec", namespace, "sysctl", "-q", "-w", *settings])
    if result.returncode != 0:
        raise RuntimeError(f"sysctl in {namespace}: {result.stderr.strip()}")


def mac_of(namespace: str, device: str) -> str:
    listed = run(["ip", "-n", namespace, "-j", "link", "show", "dev", device])
    return str(json.loads(listed.stdout)[0]["address"])


def add_address(namespace: str, device: str, address: str, prefix: int | None = None) -> None:
    version = ipaddress.ip_address(address).version
    length = prefix if prefix is not None else (32 if version == 4 else 128)
    ip(
        namespace,
        "address",
        "add",
        f"{address}/{length}",
        "dev",
        device,
        *(["nodad"] if version == 6 else []),
    )


@dataclass
class Link:
    """A veth pair between two namespaces with a link address on each end for both families,
    and permanent neighbour entries (a burst of probes must not wait for ARP or NDP)."""

    near: str
    near_device: str
    far: str
    far_device: str
    addresses: dict[int, tuple[str, str, int]]
    mtu: int = 1500

    def create(self) -> None:
        ip(self.near, "link", "add", self.near_device, "mtu", str(self.mtu), "type", "veth", "peer", "name",
           self.far_device, "netns", self.far)  # fmt: skip
        for namespace, device, index in ((self.near, self.near_device, 0), (self.far, self.far_device, 1)):
            for near_address, far_address, prefix in self.addresses.values():
                add_address(namespace, device, (near_address, far_address)[index], prefix)
            ip(namespace, "link", "set", device, "up")
        for namespace, device, other, other_device, index in (
            (self.near, self.near_device, self.far, self.far_device, 1),
            (self.far, self.far_device, self.near, self.near_device, 0),
        ):
            for pair in self.addresses.values():
                ip(namespace, "neigh", "replace", str(pair[index]), "lladdr", mac_of(other, other_device),
                   "dev", device, "nud", "permanent")  # fmt: skip


def default_routes(namespace: str, link_addresses: dict[int, str]) -> None:
    for version, via in link_addresses.items():
        ip(namespace, f"-{version}", "route", "add", "default", "via", via)


def only_the_ruleset_filters(namespace: str) -> None:
    """Forwarding on and reverse-path filtering off, so that no sysctl drops what the ruleset lets
    through (a source check of the kernel would hide a widened source set)."""
    sysctl(
        namespace,
        "net.ipv4.conf.all.forwarding=1",
        "net.ipv6.conf.all.forwarding=1",
        "net.ipv4.conf.all.rp_filter=0",
        "net.ipv4.conf.default.rp_filter=0",
    )


def record(namespace: str, directory: Path, hook: str = "prerouting", priority: str = "raw") -> None:
    load_ruleset(namespace, recorder_ruleset(hook, priority), directory / namespace)


@dataclass
class GatewayWorld:
    """outside (the internet) --uplink-- gateway (the ruleset) --<wireguard interface>-- inside (homes)."""

    outside: str
    gateway: str
    inside: str
    mtu: int

    def outside_address(self, version: int) -> str:
        return OUTSIDE_LINK[version][1]

    def inside_link_address(self, version: int) -> str:
        return INSIDE_LINK[version][1]


@contextmanager
def gateway_world(
    plan: dict[str, Any], directory: Path, inside_sources: list[str], routed_to_inside: list[str]
) -> Iterator[GatewayWorld]:
    """The gateway plan's ruleset between an outside and an inside namespace. `inside_sources`
    are addresses the inside may send from; `routed_to_inside` are destinations the gateway routes
    to the inside, as its routes via the tunnel do (and more, to try the ruleset's own checks)."""
    wireguard = str(plan["wireguard"]["interface"])
    mtu = int(plan["wireguard"]["mtu"])
    with throwaway_namespaces(3) as (outside, gateway, inside):
        for namespace in (outside, gateway, inside):
            (directory / namespace).mkdir()
        Link(gateway, "uplink", outside, "eth0", OUTSIDE_LINK).create()
        Link(gateway, wireguard, inside, "tunnel", INSIDE_LINK, mtu=mtu).create()
        default_routes(outside, {version: pair[0] for version, pair in OUTSIDE_LINK.items()})
        default_routes(inside, {version: pair[0] for version, pair in INSIDE_LINK.items()})
        for address in sorted(set(inside_sources)):
            add_address(inside, "tunnel", address)
        through_the_tunnel_from(inside, sorted(set(inside_sources)))
        for address in sorted(set(routed_to_inside)):
            version = ipaddress.ip_address(address).version
            ip(
                gateway,
                f"-{version}",
                "route",
                "replace",
                address,
                "via",
                INSIDE_LINK[version][1],
                "dev",
                wireguard,
            )
        only_the_ruleset_filters(gateway)
        load_ruleset(gateway, plan["nftables"]["ruleset"], directory / gateway)
        record(outside, directory)
        record(inside, directory)
        yield GatewayWorld(outside, gateway, inside, mtu)


def through_the_tunnel_from(inside: str, sources: list[str]) -> None:
    """Packets the inside sends from `sources` leave by the tunnel even to the inside's own
    addresses, as one home's packets to another home behind the same gateway do (the local
    table, normally consulted first, is moved behind the rule)."""
    for version in (4, 6):
        ip(inside, f"-{version}", "rule", "add", "pref", "100", "lookup", "local")
        ip(inside, f"-{version}", "rule", "del", "pref", "0")
        ip(inside, f"-{version}", "route", "add", "default", "via", INSIDE_LINK[version][0], "table", "200")
    for source in sources:
        version = ipaddress.ip_address(source).version
        ip(inside, f"-{version}", "rule", "add", "pref", "10", "from", source, "lookup", "200")


@dataclass
class HomeWorld:
    """prober (the gateway's side of the tunnel) --link-- home namespace (the ruleset)."""

    prober: str
    home: str

    def prober_address(self, version: int) -> str:
        return INSIDE_LINK[version][0]


@contextmanager
def home_world(plan: dict[str, Any], directory: Path) -> Iterator[HomeWorld]:
    """The home namespace's ruleset in a namespace holding home's addresses; its recorder runs on
    the input hook after the ruleset's chain, so it sees exactly what the ruleset accepted."""
    with throwaway_namespaces(2) as (prober, home):
        for namespace in (prober, home):
            (directory / namespace).mkdir()
        Link(prober, "tunnel", home, str(plan["wireguard"]["interface"]), INSIDE_LINK).create()
        for family in ("ipv4", "ipv6"):
            for address in plan["addresses"][family]:
                add_address(home, str(plan["wireguard"]["interface"]), address)
                version = ipaddress.ip_address(address).version
                ip(prober, f"-{version}", "route", "replace", address, "via", INSIDE_LINK[version][1])
        default_routes(home, {version: pair[0] for version, pair in INSIDE_LINK.items()})
        load_ruleset(home, plan["namespace"]["nftables"]["ruleset"], directory / home)
        record(home, directory, hook="input", priority="filter + 10")
        yield HomeWorld(prober, home)
