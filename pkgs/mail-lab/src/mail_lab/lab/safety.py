"""The lab's safety rules: only documentation addresses, only its own names.

Every address and network the lab configures goes through these checks first, so a wrong
topology or plan can never put a real address on an interface, a route or a firewall rule.
"""

from __future__ import annotations

import ipaddress

from mail_lab.errors import LabError
from mail_lab.lab.paths import LabConfig

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network

# RFC 5737 (TEST-NET-1/2/3) and RFC 3849.
DOCUMENTATION_NETWORKS: tuple[Network, ...] = (
    ipaddress.IPv4Network("192.0.2.0/24"),
    ipaddress.IPv4Network("198.51.100.0/24"),
    ipaddress.IPv4Network("203.0.113.0/24"),
    ipaddress.IPv6Network("2001:db8::/32"),
)
# A default route names every address but configures none: the lab allows it as a destination.
DEFAULT_ROUTES: tuple[Network, ...] = (ipaddress.IPv4Network("0.0.0.0/0"), ipaddress.IPv6Network("::/0"))


class SafetyError(LabError, ValueError):
    """The lab refused to configure something outside its safety rules."""


def is_documentation_network(network: Network) -> bool:
    return any(
        network.version == allowed.version and network.subnet_of(allowed)  # type: ignore[arg-type]
        for allowed in DOCUMENTATION_NETWORKS
    )


def documentation_interface(value: str, what: str) -> ipaddress.IPv4Interface | ipaddress.IPv6Interface:
    """`value` ("192.0.2.10/24" or a bare address) if both address and network are documentation ones."""
    try:
        interface = ipaddress.ip_interface(value)
    except ValueError as error:
        raise SafetyError(f"{what}: {value!r} is not an IP address: {error}") from None
    if not is_documentation_network(interface.network):
        raise SafetyError(
            f"{what}: {value} is not a documentation address (allowed: "
            f"{', '.join(str(n) for n in DOCUMENTATION_NETWORKS)}); the lab refuses to configure it"
        )
    return interface


def documentation_address(value: str, what: str) -> Address:
    return documentation_interface(value, what).ip


def route_destination(value: str, what: str) -> Network:
    """A route destination: a documentation network, or a default route."""
    try:
        network = ipaddress.ip_network(value, strict=False)
    except ValueError as error:
        raise SafetyError(f"{what}: {value!r} is not a network: {error}") from None
    if network in DEFAULT_ROUTES or is_documentation_network(network):
        return network
    raise SafetyError(f"{what}: route to {value} leaves the documentation networks; refused")


def endpoint_address(value: str, what: str) -> Address:
    """The address of a WireGuard endpoint "192.0.2.1:51820" / "[2001:db8::1]:51820"."""
    host = value.rsplit(":", 1)[0]
    return documentation_address(host.strip("[]"), what)


def check_namespace_name(config: LabConfig, name: str) -> str:
    """`name` if it is one of this lab's global namespaces; refuse any other."""
    if not config.owns_namespace(name) or len(name) > 64 or "/" in name:
        raise SafetyError(f"namespace {name!r} does not belong to lab prefix {config.prefix!r}; refused")
    return name
