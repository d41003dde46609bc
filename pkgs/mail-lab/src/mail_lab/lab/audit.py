"""Before building anything: every address in the world and the plans is a documentation one."""

from __future__ import annotations

from typing import Any

from mail_lab.lab import safety


def _check(problems: list[str], check: Any, value: str, what: str) -> None:
    try:
        check(value, what)
    except safety.SafetyError as error:
        problems.append(str(error))


def audit_topology(topology: dict[str, Any]) -> None:
    """Raise SafetyError listing every address the lab would refuse to configure."""
    problems: list[str] = []
    internet = topology["world"]["internet"]
    for family in ("ipv4", "ipv6"):
        address = internet["dns"][family]
        _check(problems, safety.documentation_address, address, f"world.internet.dns.{family}")
    for link_name, link in internet["links"].items():
        for family in ("ipv4", "ipv6"):
            _check(
                problems, safety.documentation_interface, link[family], f"world.internet.links.{link_name}"
            )
            _check(
                problems,
                safety.documentation_interface,
                link["router"][family],
                f"world.internet.links.{link_name}.router.{family}",
            )
    for name, machine in topology["world"]["machines"].items():
        for family in ("ipv4", "ipv6"):
            if family in machine:
                _check(
                    problems,
                    safety.documentation_interface,
                    machine[family],
                    f"world.machines.{name}.{family}",
                )
    for role, plan in topology["plans"].items():
        wg = plan.get("wireguard", {})
        for address in wg.get("ips", []):
            _check(problems, safety.documentation_interface, address, f"plans.{role}.wireguard.ips")
        for peer in wg.get("peers", []):
            for network in peer.get("allowedIPs", []):
                _check(
                    problems, safety.route_destination, network, f"plans.{role}.wireguard.peers.allowedIPs"
                )
            if peer.get("endpoint"):
                _check(
                    problems,
                    safety.endpoint_address,
                    peer["endpoint"],
                    f"plans.{role}.wireguard.peers.endpoint",
                )
        for route in plan.get("routes", []):
            _check(problems, safety.route_destination, route["destination"], f"plans.{role}.routes")
        for neighbour in plan.get("proxyNeighbours", []):
            _check(
                problems, safety.documentation_address, neighbour["address"], f"plans.{role}.proxyNeighbours"
            )
        for family, addresses in (plan.get("addresses") or plan.get("forwardedAddresses") or {}).items():
            for address in addresses:
                _check(problems, safety.documentation_address, address, f"plans.{role}.addresses.{family}")
    if problems:
        raise safety.SafetyError("the topology uses addresses the lab refuses:\n" + "\n".join(problems))
