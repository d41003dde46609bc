"""The virtual internet: one router machine (`internet`) and a link to every other machine.

Every link is a veth created inside `internet` whose peer is created directly in the machine's
namespace as `eth0` (never in the host's); a link shared by several machines (`edge`) is a bridge
in `internet`. The router holds .1 / ::1 on each link and its services' addresses (DNS, ACME) on
the link that contains them. It blocks the links' `blockedTcpPorts` in both directions (the home
ISP's port 25), and a guard table counts and drops any packet from or to a non-documentation
address.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from typing import Any

from mail_lab.commands import run
from mail_lab.errors import LabError
from mail_lab.lab import safety
from mail_lab.machine.api import Machine
from mail_lab.net import netconf

ISP_TABLE = "mail_lab_isp"
GUARD_TABLE = "mail_lab_guard"
INTERFACE = "eth0"


class InternetError(LabError, RuntimeError):
    """The topology's links do not hold an address the internet must serve."""


def _router_address(link: Mapping[str, Any], family: str, what: str) -> str:
    """The router's address on a link (`router`, .1 / ::1 computed by tests/topology.nix), with
    the link's prefix length."""
    return safety.documentation_interface(str(link["router"][family]), what).with_prefixlen


def _bare(cidr: str) -> str:
    return str(ipaddress.ip_interface(cidr).ip)


def isp_ruleset(world: Mapping[str, Any]) -> str:
    """The links' blocked TCP ports, both directions (the router's device is named after the link)."""
    rules = []
    for name, link in sorted(world["internet"]["links"].items()):
        ports = link.get("blockedTcpPorts") or []
        if ports:
            device = name
            port_set = "{ " + ", ".join(str(int(p)) for p in ports) + " }"
            rules.append(f'\t\tiifname "{device}" tcp dport {port_set} counter drop')
            rules.append(f'\t\toifname "{device}" tcp dport {port_set} counter drop')
    return (
        f"table inet {ISP_TABLE} {{\n\tchain forward {{\n"
        "\t\ttype filter hook forward priority filter; policy accept;\n" + "\n".join(rules) + "\n\t}\n}\n"
    )


def guard_ruleset() -> str:
    """Count and drop whatever is not between documentation addresses.

    Link-local traffic (NDP, MLD, IGMP) is allowed: it never leaves a link, and on the `edge`
    bridge it passes these hooks too (bridged packets reach inet hooks when br_netfilter is loaded).
    """
    v4 = ", ".join(str(n) for n in safety.DOCUMENTATION_NETWORKS if n.version == 4)
    v6 = ", ".join(str(n) for n in safety.DOCUMENTATION_NETWORKS if n.version == 6)
    rules = (
        '\t\tiifname "lo" accept\n\t\toifname "lo" accept\n'
        "\t\tip6 saddr fe80::/10 accept\n\t\tip6 daddr { fe80::/10, ff02::/16 } accept\n"
        "\t\tip daddr 224.0.0.0/24 accept\n"
        f"\t\tip saddr != {{ {v4} }} counter drop\n\t\tip daddr != {{ {v4} }} counter drop\n"
        f"\t\tip6 saddr != {{ {v6} }} counter drop\n\t\tip6 daddr != {{ {v6} }} counter drop\n"
    )
    body = "".join(
        f"\tchain {hook} {{\n\t\ttype filter hook {hook} priority -10; policy accept;\n{rules}\t}}\n"
        for hook in ("forward", "input", "output")
    )
    return f"table inet {GUARD_TABLE} {{\n{body}}}\n"


class Internet:
    """`world` of the topology wired between `router` (the `internet` machine) and the others."""

    def __init__(self, world: Mapping[str, Any], machines: Mapping[str, Machine]):
        self.topology = world
        self.machines = machines
        self.router = machines["internet"]

    def _machine(self, name: str) -> dict[str, Any]:
        return dict(self.topology["machines"].get(name, {}))

    def build(self) -> None:
        """Forwarding, firewall tables, bridges (for shared links) and the DNS addresses.

        The router's interface toward a link is named after the link: the veth of a link with one
        machine, or the bridge of a shared one (its ports are `<link>-<machine>`).
        """
        internet = self.router
        internet.succeed(netconf.sysctl({"net.ipv4.ip_forward": 1, "net.ipv6.conf.all.forwarding": 1}))
        internet.succeed(f"nft -f - <<'EOF'\n{guard_ruleset()}EOF")
        internet.succeed(f"nft -f - <<'EOF'\n{isp_ruleset(self.topology)}EOF")
        for name, link in sorted(self.topology["internet"]["links"].items()):
            if len(self._link_members(name)) > 1:
                internet.succeed(f"ip link add {name} type bridge && ip link set {name} up")
                self._add_router_addresses(name, link)
        for family, address, option in self._service_addresses():
            link_name, link = self._link_containing(address, option)
            if len(self._link_members(link_name)) > 1:
                prefix = ipaddress.ip_network(link[family]).prefixlen
                internet.succeed(netconf.add_address(link_name, f"{address}/{prefix}", option))

    def _service_addresses(self) -> list[tuple[str, str, str]]:
        """(family, address, option) of the internet's own services: its DNS and ACME server."""
        internet = self.topology["internet"]
        found = [(family, internet["dns"][family], "world.internet.dns") for family in ("ipv4", "ipv6")]
        acme = internet.get("acme", {})
        found += [
            (family, acme[family], "world.internet.acme") for family in ("ipv4", "ipv6") if family in acme
        ]
        return found

    def _add_router_addresses(self, device: str, link: Mapping[str, Any]) -> None:
        for family in ("ipv4", "ipv6"):
            address = _router_address(link, family, device)
            self.router.succeed(netconf.add_address(device, address, f"internet link {device}"))

    def _link_members(self, link: str) -> list[str]:
        return sorted(n for n, m in self.topology["machines"].items() if m.get("link") == link)

    def _link_device(self, link: str, machine: str) -> str:
        """The internet's interface toward `machine`: the link's veth, or its port on the bridge."""
        return link if len(self._link_members(link)) == 1 else f"{link}-{machine}"[:15]

    def attach(self, machine: Machine) -> None:
        info = self._machine(machine.name)
        if not info:
            return
        link_name = str(info["link"])
        link = self.topology["internet"]["links"][link_name]
        internet = self.router
        device = self._link_device(link_name, machine.name)
        interface = str(info.get("interface", INTERFACE))
        # Created inside `internet`, its peer straight in the machine's namespace.
        run(
            [
                "ip",
                "-n",
                internet.namespace,
                "link",
                "add",
                device,
                "type",
                "veth",
                "peer",
                "name",
                interface,
                "netns",
                machine.namespace,
            ]
        )
        if device != link_name:
            internet.succeed(f"ip link set {device} master {link_name}")
        else:
            self._add_router_addresses(device, link)
            self._add_service_addresses(link_name, link)
        internet.succeed(f"ip link set {device} up")
        for family in ("ipv4", "ipv6"):
            machine.succeed(netconf.add_address(interface, info[family], f"world.machines.{machine.name}"))
        machine.succeed(f"ip link set {interface} up")
        for family in ("ipv4", "ipv6"):
            router = _bare(_router_address(link, family, link_name))
            machine.succeed(netconf.default_route(router, f"world.machines.{machine.name}"))
        self._forget_old_neighbour(machine.name, link_name)

    def _forget_old_neighbour(self, name: str, link_name: str) -> None:
        """A rebooted machine has a new MAC: drop what its link partners cached for its addresses."""
        info = self._machine(name)
        partners = [
            self.router,
            *(self.machines[n] for n in self._link_members(link_name) if n != name),
        ]
        flush = " && ".join(f"ip neigh flush to {_bare(info[family])}" for family in ("ipv4", "ipv6"))
        for partner in partners:
            if partner.is_up():
                partner.succeed(flush)

    def _add_service_addresses(self, link_name: str, link: Mapping[str, Any]) -> None:
        """Service addresses on a single-machine link go on its veth once that exists."""
        for family, address, option in self._service_addresses():
            if self._link_containing(address, option)[0] == link_name:
                prefix = ipaddress.ip_network(link[family]).prefixlen
                self.router.succeed(netconf.add_address(link_name, f"{address}/{prefix}", option))

    def connect_uplinks(self) -> None:
        internet = self.router
        for name, machine in self.machines.items():
            info = self._machine(name)
            if info and name != "internet":
                machine.uplink_peer = (internet, self._link_device(str(info["link"]), name))

    def _link_containing(self, address: str, option: str) -> tuple[str, dict[str, Any]]:
        ip = ipaddress.ip_address(address)
        for name, link in self.topology["internet"]["links"].items():
            for family in ("ipv4", "ipv6"):
                network = ipaddress.ip_network(link[family])
                if ip.version == network.version and ip in network:
                    return name, link
        raise InternetError(f"{option}: {address} is on none of the internet's links")
