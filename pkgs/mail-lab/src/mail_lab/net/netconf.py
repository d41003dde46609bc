"""Interface, address, route and neighbour commands, each address checked by `safety` first.

These build shell commands run inside a machine (`Machine.succeed`), so what the lab configures
is exactly what `ip` shows there.
"""

from __future__ import annotations

import shlex

from mail_lab.lab import safety


def add_address(device: str, cidr: str, what: str) -> str:
    interface = safety.documentation_interface(cidr, what)
    # nodad: the lab's links have no duplicate to detect, and waiting for DAD only costs time.
    flags = " nodad" if interface.version == 6 else ""
    return f"ip address add {interface.with_prefixlen} dev {shlex.quote(device)}{flags}"


def default_route(gateway: str, what: str) -> str:
    address = safety.documentation_address(gateway, what)
    family = "-6" if address.version == 6 else "-4"
    return f"ip {family} route replace default via {address}"


def route(destination: str, device: str, what: str, table: str = "main") -> str:
    network = safety.route_destination(destination, what)
    family = "-6" if network.version == 6 else "-4"
    return f"ip {family} route replace {network} dev {shlex.quote(device)} table {shlex.quote(table)}"


def proxy_neighbour(address: str, device: str, what: str) -> str:
    checked = safety.documentation_address(address, what)
    return f"ip -6 neigh replace proxy {checked} dev {shlex.quote(device)}"


def sysctl(settings: dict[str, int | str]) -> str:
    assignments = " ".join(shlex.quote(f"{key}={value}") for key, value in sorted(settings.items()))
    return f"sysctl -q -w {assignments}"
