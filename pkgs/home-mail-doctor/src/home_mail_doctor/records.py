"""`home-mail-doctor records`: the DNS records the domains need and the PTRs to ask for, as zone lines."""

from __future__ import annotations

import base64
import ipaddress
from collections.abc import Sequence
from pathlib import Path

from cryptography.hazmat.primitives import serialization

from home_mail_doctor.plan import DoctorPlan

TTL = 3600
MX_PREFERENCE = 10
DMARC_TEXT = "v=DMARC1; p=reject; adkim=r; aspf=r"
TXT_CHUNK = 255  # a TXT character-string holds at most 255 bytes


def txt(text: str) -> str:
    chunks = [text[i : i + TXT_CHUNK] for i in range(0, len(text), TXT_CHUNK)]
    return " ".join('"' + c.replace("\\", "\\\\").replace('"', '\\"') + '"' for c in chunks)


def spf_record(ipv4: Sequence[str], ipv6: Sequence[str]) -> str:
    return "v=spf1 " + " ".join([*(f"ip4:{a}" for a in ipv4), *(f"ip6:{a}" for a in ipv6)]) + " -all"


def dkim_record(private_pem: bytes) -> str:
    key = serialization.load_pem_private_key(private_pem, password=None)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return f"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"


def domain_records(
    domain: str, mail_name: str, ipv4: Sequence[str], ipv6: Sequence[str], dkim: tuple[str, str] | None
) -> list[str]:
    """Zone lines for one mail domain; `dkim` is (selector, DKIM TXT text) when known."""
    lines = [
        f"{domain}. {TTL} IN MX {MX_PREFERENCE} {mail_name}.",
        f"{domain}. {TTL} IN TXT {txt(spf_record(ipv4, ipv6))}",
    ]
    if dkim:
        lines.append(f"{dkim[0]}._domainkey.{domain}. {TTL} IN TXT {txt(dkim[1])}")
    lines.append(f"_dmarc.{domain}. {TTL} IN TXT {txt(DMARC_TEXT)}")
    return lines


def address_records(mail_name: str, ipv4: Sequence[str], ipv6: Sequence[str]) -> list[str]:
    return [
        *(f"{mail_name}. {TTL} IN A {a}" for a in ipv4),
        *(f"{mail_name}. {TTL} IN AAAA {a}" for a in ipv6),
    ]


def ptr_records(mail_name: str, addresses: Sequence[str]) -> list[str]:
    return [f"{ipaddress.ip_address(a).reverse_pointer}. {TTL} IN PTR {mail_name}." for a in addresses]


def render(doctor: DoctorPlan) -> str:
    dkim = None
    if doctor.dkim and Path(doctor.dkim.key_file).exists():
        dkim = (doctor.dkim.selector, dkim_record(Path(doctor.dkim.key_file).read_bytes()))
    ipv4, ipv6 = doctor.forwarded["ipv4"], doctor.forwarded["ipv6"]
    out = [f"; {doctor.mail_name}: in its zone", *address_records(doctor.mail_name, ipv4, ipv6)]
    for domain in doctor.domains:
        out.append(f"; {domain}: in its zone")
        out += domain_records(domain, doctor.mail_name, ipv4, ipv6, dkim)
    out.append("; PTR: ask the vServer provider to set these")
    out += ptr_records(doctor.mail_name, doctor.forwarded_all)
    if doctor.dkim and dkim is None:
        out.append(f"; DKIM: {doctor.dkim.key_file} is not here; run `home-mail-doctor records` at home")
    return "\n".join(out) + "\n"
