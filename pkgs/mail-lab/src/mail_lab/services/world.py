"""The mail view of the test world: names and addresses the daemons are configured from.

Everything comes from the parsed JSON of tests/topology.nix, so that changing the topology (or
its `overrides`) changes DNS, certificates and daemon configuration alike. Home's public
addresses are the forwarded ones from the home plan, never the address of its ISP line.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from mail_lab.lab.topology import bare_address

Address = ipaddress.IPv4Address | ipaddress.IPv6Address


def _bare_address(value: str) -> Address:
    return ipaddress.ip_address(bare_address(value))


@dataclass(frozen=True)
class MailHost:
    """A mail server: its domain, its host name and the public addresses it sends and receives on."""

    domain: str
    fqdn: str
    addresses: tuple[Address, ...]

    @property
    def ipv4(self) -> tuple[ipaddress.IPv4Address, ...]:
        return tuple(a for a in self.addresses if isinstance(a, ipaddress.IPv4Address))

    @property
    def ipv6(self) -> tuple[ipaddress.IPv6Address, ...]:
        return tuple(a for a in self.addresses if isinstance(a, ipaddress.IPv6Address))


@dataclass(frozen=True)
class RemoteDomain:
    """A recipient domain of the remote (`world.remoteDomains`), a zone of its own: its MX host
    has the remote's addresses of `families` only (tests/dns.nix checks them)."""

    domain: str
    mx: str
    families: tuple[str, ...]  # of FAMILIES

    @classmethod
    def from_topology(cls, domain: str, entry: dict[str, Any]) -> RemoteDomain:
        return cls(domain=domain, mx=str(entry["mx"]), families=tuple(entry["families"]))


@dataclass(frozen=True)
class MailWorld:
    home: MailHost
    remote: MailHost
    name_server: MailHost  # the internet's authoritative server (domain = the zone holding its name)
    remote_domains: tuple[RemoteDomain, ...]
    accounts: dict[str, str]  # role ("home" | "remote") -> mail address
    passwords: dict[str, str]  # mail address -> test password (may be empty)
    remote_maildir: str

    @property
    def hosts(self) -> tuple[MailHost, MailHost]:
        return (self.home, self.remote)

    @classmethod
    def from_topology(cls, topology: dict[str, Any]) -> MailWorld:
        world = topology["world"]
        machines = world["machines"]
        domains = world["domains"]
        forwarded = topology["plans"]["home"]["addresses"]
        home = MailHost(
            domain=domains["home"],
            fqdn=machines["home"]["fqdn"],
            addresses=tuple(_bare_address(a) for a in [*forwarded["ipv4"], *forwarded["ipv6"]]),
        )
        remote_machine = machines["remote"]
        remote = MailHost(
            domain=domains["remote"],
            fqdn=remote_machine["fqdn"],
            addresses=(_bare_address(remote_machine["ipv4"]), _bare_address(remote_machine["ipv6"])),
        )
        dns = world["internet"]["dns"]
        name_server = MailHost(
            domain=remote.domain,
            fqdn=dns["name"],
            addresses=(_bare_address(dns["ipv4"]), _bare_address(dns["ipv6"])),
        )
        remote_domains = tuple(
            RemoteDomain.from_topology(domain, entry)
            for domain, entry in sorted(world.get("remoteDomains", {}).items())
        )
        return cls(
            home=home,
            remote=remote,
            name_server=name_server,
            remote_domains=remote_domains,
            accounts=dict(world["accounts"]),
            passwords=dict(world.get("passwords", {})),
            remote_maildir=remote_machine["maildir"],
        )

    def remote_family_sender(self, family: str) -> str:
        """The remote account's address whose mail the remote's MTA sends over `family` only."""
        local, domain = self.accounts["remote"].rsplit("@", 1)
        return f"{local}+{family}@{domain}"

    def remote_recipient_domains(self) -> list[str]:
        """Every domain the remote's MTA accepts mail for."""
        return [self.remote.domain, *(entry.domain for entry in self.remote_domains)]

    def single_family_domain(self, family: str) -> RemoteDomain:
        """A remote domain reachable over `family` only."""
        for entry in self.remote_domains:
            if entry.families == (family,):
                return entry
        raise LookupError(
            f'tests/topology.nix: world.remoteDomains has no domain with families [ "{family}" ]'
        )
