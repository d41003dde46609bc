"""Pure judgements the checks share: DNSBL answers, SPF results, handshake ages."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from home_mail_doctor.report import Status

REFUSED = ipaddress.IPv4Network("127.255.255.0/24")
LISTED_FIRST = ipaddress.IPv4Address("127.0.0.2")
LISTED_LAST = ipaddress.IPv4Address("127.0.0.11")


@dataclass(frozen=True)
class DnsblVerdict:
    status: Status
    meaning: str


def dnsbl_answer(answers: list[str]) -> DnsblVerdict:
    """What a DNSBL's A records for an address mean.

    127.0.0.2-127.0.0.11: listed (Spamhaus' return codes); 127.255.255.x: the query was refused
    (Spamhaus answers so to public resolvers and some hosting networks), so RBL checks are blind
    here; nothing: not listed.
    """
    if not answers:
        return DnsblVerdict(Status.OK, "not listed")
    codes = [ipaddress.IPv4Address(a) for a in answers]
    if any(c in REFUSED for c in codes):
        return DnsblVerdict(Status.WARN, f"query refused ({', '.join(answers)})")
    listed = [str(c) for c in codes if LISTED_FIRST <= c <= LISTED_LAST]
    if listed:
        return DnsblVerdict(Status.FAIL, f"listed ({', '.join(listed)})")
    return DnsblVerdict(Status.WARN, f"unexpected answer ({', '.join(answers)})")


def dnsbl_query_name(address: str, zone: str) -> str:
    """The DNSBL name of `address`: reversed octets (IPv4) or nibbles (IPv6) under `zone`."""
    reverse = ipaddress.ip_address(address).reverse_pointer
    suffix = ".in-addr.arpa" if ":" not in address else ".ip6.arpa"
    return f"{reverse.removesuffix(suffix)}.{zone}"


def spf_authorizes(result: str) -> bool:
    return result == "pass"


def handshake_status(age: int | None, warn_after: int, fail_after: int) -> Status:
    """`age` in seconds since the last handshake; None = never."""
    if age is None or age > fail_after:
        return Status.FAIL
    return Status.WARN if age > warn_after else Status.OK
