"""What the checks share: the plan, where to look from, the resolver to ask."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import dns.resolver

from home_mail_doctor.plan import DoctorPlan
from home_mail_doctor.probes import PROBE_TIMEOUT, netlink, netns, wireguard
from home_mail_doctor.probes import dns as dnsprobe

T = TypeVar("T")
# A DNS check may need several lookups (SPF includes, FCrDNS), each with PROBE_TIMEOUT.
DNS_CHECK_TIMEOUT = PROBE_TIMEOUT * 8


@dataclass
class Context:
    doctor: DoctorPlan

    @property
    def plan(self) -> dict[str, Any]:
        return self.doctor.plan

    @property
    def mail_namespace(self) -> str | None:
        """Where the mail services' traffic lives: home's namespace path; the gateway: here."""
        return str(self.plan["namespace"]["path"]) if self.doctor.role == "home" else None

    @functools.cached_property
    def resolver(self) -> dns.resolver.Resolver:
        if self.doctor.role == "home":
            return dnsprobe.resolver(dnsprobe.nameservers_of(self.plan["namespace"]["resolvConf"]))
        return dnsprobe.resolver(None)

    def in_mail_namespace(self, function: Callable[[], T], timeout: float = DNS_CHECK_TIMEOUT) -> T:
        return netns.inside(self.mail_namespace, function, timeout)

    @functools.cached_property
    def isp_addresses(self) -> list[str]:
        """Home's ISP addresses: home's own source toward the outside; the gateway: its peers' endpoints."""
        if self.doctor.role == "home":
            found = []
            for outside in (self.doctor.outside_ipv4, self.doctor.outside_ipv6):
                route = netlink.route_get(outside)
                if route is not None and route.source:
                    found.append(route.source)
            return found
        interface = self.plan["wireguard"]["interface"]
        endpoints = [p.endpoint for p in wireguard.peers(interface) if p.endpoint]
        return [e.rsplit(":", 1)[0].strip("[]") for e in endpoints]
