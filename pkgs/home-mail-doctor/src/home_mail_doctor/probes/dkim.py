"""DKIM: sign a probe message with home's private key and verify it against DNS, with dkimpy."""

from __future__ import annotations

import dkim
import dns.resolver

from home_mail_doctor.probes.dns import lookup

PROBE_MESSAGE = (
    b"From: home-mail-doctor <postmaster@{domain}>\r\n"
    b"To: postmaster@{domain}\r\n"
    b"Subject: DKIM key probe\r\n"
    b"Message-ID: <dkim-probe@{domain}>\r\n"
    b"\r\n"
    b"Signed with the private key home signs with; verified against the key in DNS.\r\n"
)


def sign_and_verify(res: dns.resolver.Resolver, domain: str, selector: str, private_pem: bytes) -> bool:
    """True when a message signed with `private_pem` verifies with the key published in DNS."""
    message = PROBE_MESSAGE.replace(b"{domain}", domain.encode())
    signature = dkim.sign(message, selector.encode(), domain.encode(), private_pem)

    def txt(name: bytes, timeout: float = 0) -> bytes | None:
        records = lookup(res, name.decode().rstrip("."), "TXT")
        return records[0].encode() if records else None

    return bool(dkim.verify(signature + message, dnsfunc=txt))
