"""The plans' nftables rulesets judged by packets: each ruleset is loaded into real nft in throwaway
namespaces (packet_world.py), one probe is sent per port (all 65535, TCP and UDP) and family, and
the exact set of probes that arrive must be what the intents allow. Expectations are computed here
from the intents with Python's ipaddress, not from lib/: an extra accept, a missing drop, a widened
address set or a lost MSS clamp changes the arrivals and fails."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from nixeval import eval_json, needs_nix, nix_value
from packet_world import (
    SENT_MSS,
    Arrival,
    GatewayWorld,
    arrivals,
    every_port,
    gateway_world,
    home_world,
    probe,
    send,
)
from plan_nft import GATEWAY_VARIANTS, HOME_VARIANTS, missing_requirement

pytestmark = needs_nix

Json = Any
# Outbound, home may use any port: a few, among them the closed inbound 8080 and the highest.
OUTBOUND_PORTS = {"tcp": (25, 8080, 65535), "udp": (53, 8080)}
# From one home to another, the ports a leak would open first.
BETWEEN_HOMES_PORTS = {1, 22, 587, 8080, 65535}


@pytest.fixture(autouse=True)
def _needs_root_and_nft() -> None:
    reason = missing_requirement()
    if reason is not None:
        pytest.skip(reason)


def world(overrides: dict[str, Any]) -> Json:
    expression = f"(import ./tests/topology.nix {{ overrides = {nix_value(overrides)}; }})"
    return eval_json(f"{{ inherit ({expression}) plans gatewayIntent homeIntent; }}")


def ports_of(intent: Json, option: str) -> dict[str, set[int]]:
    ports = intent.get(option, {})
    return {protocol: set(ports.get(protocol, [])) for protocol in ("tcp", "udp")}


def forwarded_of(gateway_intent: Json) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    return sorted(
        {
            ipaddress.ip_interface(entry).ip
            for home in gateway_intent["homes"].values()
            for entry in home["addresses"]
        },
        key=lambda address: (address.version, address),
    )


def neighbours(
    addresses: list[ipaddress.IPv4Address | ipaddress.IPv6Address],
) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
    """The addresses next to the forwarded ones that are not forwarded: what a widened set lets in."""
    near = {address + step for address in addresses for step in (-1, 1)}
    return sorted(near - set(addresses), key=lambda address: (address.version, address))


def between_homes(gateway_intent: Json) -> list[tuple[str, str]]:
    """(an address of one home, an address of the same family of another home), every pair."""
    homes = {
        name: [ipaddress.ip_interface(entry).ip for entry in home["addresses"]]
        for name, home in gateway_intent["homes"].items()
    }
    return [
        (str(source), str(target))
        for name, sources in homes.items()
        for other, targets in homes.items()
        if other != name
        for source in sources
        for target in targets
        if source.version == target.version
    ]


def clamped(mss_clamp: bool, mtu: int, version: int) -> int:
    """The MSS a SYN sent with SENT_MSS has after crossing the gateway (IPv4 40, IPv6 60 header bytes)."""
    return min(SENT_MSS, mtu - (40 if version == 4 else 60)) if mss_clamp else SENT_MSS


def arrivals_of_probes(
    protocol: str, source: str, destination: str, ports: Iterable[int], mss: int
) -> set[Arrival]:
    if protocol == "icmp":
        return {Arrival("icmp", source, destination, "echo-request")}
    return {
        Arrival(protocol, source, destination, port, mss if protocol == "tcp" else None) for port in ports
    }


def assert_exactly(arrived: set[Arrival], expected: set[Arrival], what: str) -> None:
    extra, missing = sorted(arrived - expected), sorted(expected - arrived)
    assert not extra and not missing, (
        f"{what}: passed but must not: {extra[:20]}; must pass but did not: {missing[:20]}"
    )


@dataclass
class Probes:
    """Probes for one sender, and the arrivals the intents allow for them."""

    jobs: list[dict[str, Any]] = field(default_factory=list)
    expected: set[Arrival] = field(default_factory=set)

    def add(self, job: dict[str, Any], allowed_ports: Iterable[int] | None, mss: int) -> None:
        """`allowed_ports`: which of the job's ports must arrive (None: none of the job's probes)."""
        self.jobs.append(job)
        if allowed_ports is not None:
            self.expected |= arrivals_of_probes(
                job["protocol"], job["source"], job["destination"], allowed_ports, mss
            )


@dataclass(frozen=True)
class GatewayCase:
    """What the gateway intent allows, computed from the intent alone."""

    allowed: dict[str, set[int]]
    forwarded: list[ipaddress.IPv4Address | ipaddress.IPv6Address]
    mss_clamp: bool
    mtu: int

    @property
    def decoys(self) -> list[ipaddress.IPv4Address | ipaddress.IPv6Address]:
        return neighbours(self.forwarded)

    def mss(self, address: str) -> int:
        return clamped(self.mss_clamp, self.mtu, ipaddress.ip_address(address).version)


def from_the_internet(case: GatewayCase, net: GatewayWorld) -> Probes:
    """Every port of each forwarded address, the forwarded ports (and 8080) of the addresses next
    to them; only the forwarded ports of forwarded addresses may arrive, clamped."""
    probes = Probes()
    for address in case.forwarded + case.decoys:
        target, outside = str(address), net.outside_address(address.version)
        is_forwarded = address in case.forwarded
        for protocol in ("tcp", "udp"):
            if is_forwarded:
                probes.add(every_port(protocol, outside, target), case.allowed[protocol], case.mss(target))
            else:
                probes.add(probe(protocol, outside, target, case.allowed[protocol] | {8080}), None, 0)
        probes.add(probe("icmp", outside, target), () if is_forwarded else None, 0)
    return probes


def from_home(case: GatewayCase, net: GatewayWorld) -> Probes:
    """From each forwarded address, the addresses next to them and the link address, to a few ports
    of the internet: only the forwarded addresses get out (to any port), clamped."""
    probes = Probes()
    sources = [
        *map(str, case.forwarded + case.decoys),
        net.inside_link_address(4),
        net.inside_link_address(6),
    ]
    for source in sources:
        outside = net.outside_address(ipaddress.ip_address(source).version)
        may_send = ipaddress.ip_address(source) in case.forwarded
        for protocol in ("tcp", "udp", "icmp"):
            ports = OUTBOUND_PORTS.get(protocol, ())
            probes.add(probe(protocol, source, outside, ports), ports if may_send else None, case.mss(source))
    return probes


def between_the_homes(case: GatewayCase, gateway_intent: Json) -> Probes:
    """From one home to another behind the same tunnel: as from the internet, only the forwarded
    ports (no home may use its right to send as a way past another home's ports)."""
    probes = Probes()
    for source, target in between_homes(gateway_intent):
        for protocol in ("tcp", "udp", "icmp"):
            ports = case.allowed.get(protocol, set())
            probes.add(probe(protocol, source, target, ports | BETWEEN_HOMES_PORTS), ports, case.mss(source))
    return probes


@pytest.mark.parametrize("overrides", GATEWAY_VARIANTS.values(), ids=list(GATEWAY_VARIANTS))
def test_the_gateway_lets_through_exactly_the_forwarded_ports_and_addresses(
    overrides: dict[str, Any], tmp_path: Path
) -> None:
    """Probes from the internet, from home and between two homes through the gateway's ruleset;
    what arrives on either side must be exactly what the gateway intent allows."""
    facts = world(overrides)
    plan, intent = facts["plans"]["gateway"], facts["gatewayIntent"]
    case = GatewayCase(
        allowed=ports_of(intent, "forwardedPorts"),
        forwarded=forwarded_of(intent),
        mss_clamp=intent.get("mssClamp", True),
        mtu=int(plan["wireguard"]["mtu"]),
    )
    addresses = [str(address) for address in case.forwarded + case.decoys]
    with gateway_world(plan, tmp_path, addresses, addresses) as net:
        inbound, outbound, between = (
            from_the_internet(case, net),
            from_home(case, net),
            between_the_homes(case, intent),
        )
        send(net.outside, inbound.jobs)
        send(net.inside, outbound.jobs + between.jobs)
        assert_exactly(arrivals(net.inside), inbound.expected | between.expected, "into the tunnel")
        assert_exactly(arrivals(net.outside), outbound.expected, "out of the tunnel")


@pytest.mark.parametrize("overrides", HOME_VARIANTS.values(), ids=list(HOME_VARIANTS))
def test_the_home_namespace_accepts_exactly_the_open_ports(overrides: dict[str, Any], tmp_path: Path) -> None:
    """Every TCP and UDP port and an echo request to each of home's addresses, from the tunnel's
    side: only openPorts (and the echo request) get past the namespace's input chain."""
    facts = world(overrides)
    plan, intent = facts["plans"]["home"], facts["homeIntent"]
    allowed = ports_of(intent, "openPorts")
    own = [ipaddress.ip_interface(entry).ip for entry in intent["addresses"]]
    with home_world(plan, tmp_path) as net:
        probes = Probes()
        for address in own:
            prober, target = net.prober_address(address.version), str(address)
            for protocol in ("tcp", "udp"):
                probes.add(every_port(protocol, prober, target), allowed[protocol], SENT_MSS)
            probes.add(probe("icmp", prober, target), (), SENT_MSS)
        send(net.prober, probes.jobs)
        assert_exactly(arrivals(net.home), probes.expected, "into the namespace")
