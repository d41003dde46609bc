"""DNS lookups with dnspython, through this machine's resolver or the namespace's."""

from __future__ import annotations

import dns.exception
import dns.resolver
import dns.reversename

from home_mail_doctor.probes import PROBE_TIMEOUT
from home_mail_doctor.probes.command import ProbeError


def resolver(nameservers: list[str] | None) -> dns.resolver.Resolver:
    """The system's resolver, or one asking `nameservers` (the namespace's resolv.conf)."""
    if nameservers is None:
        made = dns.resolver.Resolver()
    else:
        made = dns.resolver.Resolver(configure=False)
        made.nameservers = nameservers
    made.lifetime = PROBE_TIMEOUT
    made.timeout = PROBE_TIMEOUT / 2
    made.cache = None
    return made


def nameservers_of(resolv_conf: str) -> list[str]:
    return [line.split()[1] for line in resolv_conf.splitlines() if line.startswith("nameserver ")]


def lookup(res: dns.resolver.Resolver, name: str, rdtype: str) -> list[str]:
    """The answer's records as text ([] for NXDOMAIN or no data); ProbeError when nobody answers."""
    try:
        answer = res.resolve(name, rdtype, raise_on_no_answer=False)
    except dns.resolver.NXDOMAIN:
        return []
    except (dns.exception.Timeout, dns.resolver.NoNameservers) as error:
        raise ProbeError(f"{rdtype} {name}: {error}") from None
    if rdtype == "TXT":
        return [b"".join(r.strings).decode(errors="replace") for r in answer]
    return [r.to_text() for r in answer]


def reverse_name(address: str) -> str:
    return dns.reversename.from_address(address).to_text(omit_final_dot=True)
