"""DKIM keys of the lab's mail domains: the private key signs (rspamd), the public one is in DNS.

Keys are kept in `<lab state>/dkim/<domain>.<selector>.key` (mode 600) and reused, so the DNS
record and the signer always agree, whichever machine is configured first.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mail_lab.services.files import write_private

SELECTOR = "mail"
KEY_BITS = 2048


@dataclass(frozen=True)
class DkimKey:
    domain: str
    selector: str
    private_pem: bytes
    public_der: bytes

    @property
    def record_name(self) -> str:
        """The DNS name of the public key record, relative to nothing (absolute, no final dot)."""
        return f"{self.selector}._domainkey.{self.domain}"

    @property
    def record_text(self) -> str:
        return f"v=DKIM1; k=rsa; p={base64.b64encode(self.public_der).decode()}"


def dkim_key(state_dir: Path, domain: str, selector: str = SELECTOR) -> DkimKey:
    """The DKIM key of `domain`, generated the first time it is asked for."""
    directory = state_dir / "dkim"
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = directory / f"{domain}.{selector}.key"
    if path.exists():
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        if not isinstance(loaded, rsa.RSAPrivateKey):
            raise ValueError(f"{path}: expected an RSA private key")
        key = loaded
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=KEY_BITS)
        write_private(
            path,
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.TraditionalOpenSSL,
                serialization.NoEncryption(),
            ),
        )
    public_der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return DkimKey(domain=domain, selector=selector, private_pem=path.read_bytes(), public_der=public_der)
