"""The plans' nftables rulesets judged by packets: each ruleset is loaded into real nft in throwaway
namespaces (packet_world.py), one probe is sent per port (all 65535, TCP and UDP) and family, and
the exact set of probes that arrive must be what the intents allow. Expectations are computed here
from the intents with Python's ipaddress, not from lib/: an extra accept, a missing drop, a widened
address set or a lost MSS clamp changes the arrivals and fails."""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Any

import pytest
from nixeval import eval_json, nix_available, nix_value
from packet_world import SENT_MSS, Arrival, arrivals, every_port, gateway_world, home_world, probe, send
from plan_nft import GATEWAY_VARIANTS, HOME_VARIANTS, missing_requirement

pytestmark = pytest.mark.skipif(not nix_available(), reason="nix-instantiate is not installed")

Json = Any
# Outbound, home may use any port: a few, among them the closed inbound 8080 and the highest.
OUTBOUND_PORTS = {"tcp": (25, 8080, 65535), "udp": (53, 8080)}


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


def clamped(mss_clamp: bool, mtu: int, version: int) -> int:
    """The MSS a SYN sent with SENT_MSS has after crossing the gateway (IPv4 40, IPv6 60 header bytes)."""
    return min(SENT_MSS, mtu - (40 if version == 4 else 60)) if mss_clamp else SENT_MSS


def arrivals_of_probes(
    protocol: str, source: str, destination: str, ports: set[int] | tuple[int, ...], mss: int
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


@pytest.mark.parametrize("overrides", GATEWAY_VARIANTS.values(), ids=list(GATEWAY_VARIANTS))
def test_the_gateway_lets_through_exactly_the_forwarded_ports_and_addresses(
    overrides: dict[str, Any], tmp_path: Path
) -> None:
    """Inbound: every port of every forwarded address, and the forwarded ports of the addresses
    next to them (routed to the tunnel too); only forwardedPorts of forwarded addresses arrive,
    with the MSS clamped to the tunnel. Outbound: home sends from every forwarded address, from the
    addresses next to them and from its link address; only the forwarded ones get out, clamped."""
    facts = world(overrides)
    plan, intent = facts["plans"]["gateway"], facts["gatewayIntent"]
    allowed = ports_of(intent, "forwardedPorts")
    forwarded, decoys = forwarded_of(intent), neighbours(forwarded_of(intent))
    mss_clamp, mtu = intent.get("mssClamp", True), int(plan["wireguard"]["mtu"])
    sources = [str(address) for address in forwarded + decoys]
    with gateway_world(plan, tmp_path, sources, sources) as net:
        inbound, outbound, expected_in, expected_out = [], [], set(), set()
        for address in forwarded + decoys:
            target, version = str(address), address.version
            mss = clamped(mss_clamp, mtu, version)
            outside = net.outside_address(version)
            is_forwarded = address in forwarded
            for protocol in ("tcp", "udp"):
                tried = (allowed[protocol] | {8080}) if not is_forwarded else set(range(1, 65536))
                inbound.append(
                    every_port(protocol, outside, target)
                    if is_forwarded
                    else probe(protocol, outside, target, tried)
                )
                if is_forwarded:
                    expected_in |= arrivals_of_probes(protocol, outside, target, allowed[protocol], mss)
            inbound.append(probe("icmp", outside, target))
            if is_forwarded:
                expected_in |= arrivals_of_probes("icmp", outside, target, (), mss)
        for source in [*sources, net.inside_link_address(4), net.inside_link_address(6)]:
            version = ipaddress.ip_address(source).version
            outside, mss = net.outside_address(version), clamped(mss_clamp, mtu, version)
            for protocol in ("tcp", "udp", "icmp"):
                ports = OUTBOUND_PORTS.get(protocol, ())
                outbound.append(probe(protocol, source, outside, ports))
                if ipaddress.ip_address(source) in forwarded:
                    expected_out |= arrivals_of_probes(protocol, source, outside, ports, mss)
        send(net.outside, inbound)
        send(net.inside, outbound)
        assert_exactly(arrivals(net.inside), expected_in, "inbound")
        assert_exactly(arrivals(net.outside), expected_out, "outbound")


@pytest.mark.parametrize("overrides", HOME_VARIANTS.values(), ids=list(HOME_VARIANTS))
def test_the_home_namespace_accepts_exactly_the_open_ports(overrides: dict[str, Any], tmp_path: Path) -> None:
    """Every TCP and UDP port and an echo request to each of home's addresses, from the tunnel's
    side: only openPorts (and the echo request) get past the namespace's input chain."""
    facts = world(overrides)
    plan, intent = facts["plans"]["home"], facts["homeIntent"]
    allowed = ports_of(intent, "openPorts")
    own = [ipaddress.ip_interface(entry).ip for entry in intent["addresses"]]
    with home_world(plan, tmp_path) as net:
        probes, expected = [], set()
        for address in own:
            prober = net.prober_address(address.version)
            for protocol in ("tcp", "udp", "icmp"):
                probes.append(
                    probe("icmp", prober, str(address))
                    if protocol == "icmp"
                    else every_port(protocol, prober, str(address))
                )
                expected |= arrivals_of_probes(
                    protocol, prober, str(address), allowed.get(protocol, set()), SENT_MSS
                )
        send(net.prober, probes)
        assert_exactly(arrivals(net.home), expected, "into the namespace")
