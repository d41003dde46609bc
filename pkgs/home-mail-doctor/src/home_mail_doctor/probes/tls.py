"""The certificate a mail port presents (SMTP STARTTLS on 25, TLS on 465 and 993), checked by ssl."""

from __future__ import annotations

import datetime
import socket
import ssl
from dataclasses import dataclass

from cryptography import x509

from home_mail_doctor.probes import PROBE_TIMEOUT

IMPLICIT_TLS_PORTS = (465, 993)


@dataclass(frozen=True)
class Presented:
    verified: bool  # chain trusted and valid for the name now
    error: str | None
    not_after: datetime.datetime


def _starttls(connection: socket.socket) -> None:
    stream = connection.makefile("rb")
    for command in (None, b"EHLO home-mail-doctor\r\n", b"STARTTLS\r\n"):
        if command:
            connection.sendall(command)
        while True:
            line = stream.readline(1024)
            if not line:
                raise ConnectionError("the SMTP server closed the connection before STARTTLS")
            if line[3:4] != b"-":
                break
        if not line.startswith((b"220", b"250")):
            raise ConnectionError(f"the SMTP server answered {line.decode(errors='replace').strip()}")


def presented(
    address: str, port: int, name: str, source: str | None = None, timeout: float = PROBE_TIMEOUT
) -> Presented:
    """Connect to `address`:`port` (from `source`, if given), ask for `name`, and judge the
    certificate it presents."""
    error: str | None = None
    der: bytes | None = None
    for verify in (True, False):
        context = ssl.create_default_context()
        if not verify:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        bind = (source, 0) if source else None
        with socket.create_connection((address, port), timeout=timeout, source_address=bind) as connection:
            if port not in IMPLICIT_TLS_PORTS:
                _starttls(connection)
            try:
                with context.wrap_socket(connection, server_hostname=name) as secured:
                    der = secured.getpeercert(binary_form=True)
            except ssl.SSLCertVerificationError as failure:
                error = failure.verify_message or str(failure)
                continue
        break
    if der is None:
        raise ConnectionError(f"{address}:{port} presented no certificate")
    certificate = x509.load_der_x509_certificate(der)
    return Presented(verified=error is None, error=error, not_after=certificate.not_valid_after_utc)


def banner(address: str, port: int, timeout: float = PROBE_TIMEOUT) -> str:
    """The first line an SMTP server sends."""
    with socket.create_connection((address, port), timeout=timeout) as connection:
        return connection.makefile("rb").readline(1024).decode(errors="replace").strip()
