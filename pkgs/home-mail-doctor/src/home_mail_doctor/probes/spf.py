"""SPF evaluated by pyspf (include:, redirect=, a, mx), with its lookups through our resolver."""

from __future__ import annotations

from typing import Any

import dns.resolver
import spf

from home_mail_doctor.probes import PROBE_TIMEOUT
from home_mail_doctor.probes.dns import lookup


def evaluate(res: dns.resolver.Resolver, address: str, domain: str, helo: str) -> tuple[str, str]:
    """pyspf's (result, explanation) for mail from postmaster@`domain` sent from `address`."""

    def dns_lookup(name: str, qtype: str, tcpfallback: bool = True, timeout: float = 0) -> list[Any]:
        records = lookup(res, name, qtype)
        if qtype in ("TXT", "SPF"):
            return [((name, qtype), [r.encode()]) for r in records]
        if qtype == "MX":
            pairs = [r.split() for r in records]
            return [((name, qtype), (int(p), pyspf_name(h))) for p, h in pairs]
        return [((name, qtype), pyspf_name(r) if qtype == "PTR" else r) for r in records]

    original = spf.DNSLookup
    spf.DNSLookup = dns_lookup
    try:
        result, explanation = spf.check2(
            i=address, s=f"postmaster@{domain}", h=helo, timeout=PROBE_TIMEOUT * 3
        )
    finally:
        spf.DNSLookup = original
    return str(result), str(explanation)


def pyspf_name(name: str) -> str:
    return name.rstrip(".")
