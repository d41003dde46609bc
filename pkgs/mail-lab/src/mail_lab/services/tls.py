"""The lab's certificate authority and the server certificates it issues.

The CA and every issued certificate are kept in `<state_dir>/tls/` and reused by later bring-ups
of the same lab, so a client that trusted the CA once keeps trusting the servers.
"""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mail_lab.services.files import write_private
from mail_lab.services.machine import MailMachine

CA_VALIDITY = datetime.timedelta(days=3650)
SERVER_VALIDITY = datetime.timedelta(days=365)
# Issue certificates as if an hour ago, so a clock slightly behind does not reject them.
BACKDATE = datetime.timedelta(hours=1)
# Where Debian's OpenSSL, curl, Python and Perl look for trusted CAs (inside a machine).
TRUST_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
LAB_CA_PATH = "/etc/ssl/certs/mail-lab-ca.pem"
# Every flag of x509.KeyUsage, which wants each one given.
KEY_USAGE_FLAGS = (
    "digital_signature",
    "content_commitment",
    "key_encipherment",
    "data_encipherment",
    "key_agreement",
    "key_cert_sign",
    "crl_sign",
    "encipher_only",
    "decipher_only",
)


def key_usage(*allowed: str) -> x509.KeyUsage:
    """The KeyUsage extension allowing only `allowed` (names of KEY_USAGE_FLAGS)."""
    unknown = sorted(set(allowed) - set(KEY_USAGE_FLAGS))
    if unknown:
        raise ValueError(f"not a key usage: {', '.join(unknown)}")
    return x509.KeyUsage(**{flag: flag in allowed for flag in KEY_USAGE_FLAGS})


def _private_key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _load_ec_key(path: Path) -> ec.EllipticCurvePrivateKey:
    key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise ValueError(f"{path}: expected an EC private key")
    return key


@dataclass(frozen=True)
class ServerCredentials:
    """A server's certificate chain (leaf first, then the CA) and its private key, both PEM."""

    certificate_chain: bytes
    private_key: bytes


class LabCA:
    """A private CA that signs the lab's server certificates."""

    def __init__(self, state_dir: Path, key: ec.EllipticCurvePrivateKey, certificate: x509.Certificate):
        self.state_dir = state_dir
        self._key = key
        self.certificate = certificate

    @property
    def directory(self) -> Path:
        return self.state_dir / "tls"

    @property
    def certificate_pem(self) -> bytes:
        return self.certificate.public_bytes(serialization.Encoding.PEM)

    @classmethod
    def create(cls, state_dir: Path) -> LabCA:
        """The CA kept in `<state_dir>/tls/`, created on first use.

        `state_dir` is the lab's state directory; the other lab secrets (DKIM keys, account
        passwords) are kept beside the CA, under the same directory.
        """
        directory = state_dir / "tls"
        directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_path, certificate_path = directory / "ca.key", directory / "ca.pem"
        if key_path.exists() and certificate_path.exists():
            certificate = x509.load_pem_x509_certificate(certificate_path.read_bytes())
            return cls(state_dir, _load_ec_key(key_path), certificate)
        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "mail-lab"),
                x509.NameAttribute(NameOID.COMMON_NAME, f"mail-lab CA {state_dir.name}"),
            ]
        )
        now = datetime.datetime.now(datetime.UTC)
        public_key = key.public_key()
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(public_key)
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - BACKDATE)
            .not_valid_after(now + CA_VALIDITY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(key_usage("digital_signature", "key_cert_sign", "crl_sign"), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
            .sign(key, hashes.SHA256())
        )
        write_private(key_path, _private_key_pem(key))
        certificate_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
        return cls(state_dir, key, certificate)

    def issue(self, dns_names: Sequence[str]) -> ServerCredentials:
        """A server certificate for `dns_names` (the first is the subject), reused while it fits."""
        if not dns_names:
            raise ValueError("a server certificate needs at least one DNS name")
        key_path = self.directory / f"{dns_names[0]}.key"
        certificate_path = self.directory / f"{dns_names[0]}.pem"
        if key_path.exists() and certificate_path.exists():
            existing = x509.load_pem_x509_certificates(certificate_path.read_bytes())[0]
            if self._still_fits(existing, dns_names):
                return ServerCredentials(certificate_path.read_bytes(), key_path.read_bytes())
        now = datetime.datetime.now(datetime.UTC)
        credentials = self._sign_server(dns_names, now - BACKDATE, now + SERVER_VALIDITY)
        write_private(key_path, credentials.private_key)
        certificate_path.write_bytes(credentials.certificate_chain)
        return credentials

    def issue_expired(self, dns_names: Sequence[str]) -> ServerCredentials:
        """A certificate for `dns_names` that expired a day ago, as a missed renewal leaves it
        (for fault tests; not kept)."""
        now = datetime.datetime.now(datetime.UTC)
        return self._sign_server(dns_names, now - 2 * SERVER_VALIDITY, now - datetime.timedelta(days=1))

    def _still_fits(self, certificate: x509.Certificate, dns_names: Sequence[str]) -> bool:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        remaining = certificate.not_valid_after_utc - datetime.datetime.now(datetime.UTC)
        return (
            certificate.issuer == self.certificate.subject
            and sorted(names.get_values_for_type(x509.DNSName)) == sorted(dns_names)
            and remaining > SERVER_VALIDITY / 2
        )

    def _sign_server(
        self, dns_names: Sequence[str], not_before: datetime.datetime, not_after: datetime.datetime
    ) -> ServerCredentials:
        key = ec.generate_private_key(ec.SECP256R1())
        ca_key_identifier = self.certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
        certificate = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_names[0])]))
            .issuer_name(self.certificate.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(not_before)
            .not_valid_after(not_after)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(
                x509.SubjectAlternativeName([x509.DNSName(name) for name in dns_names]), critical=False
            )
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_identifier.value),
                critical=False,
            )
            .sign(self._key, hashes.SHA256())
        )
        chain = certificate.public_bytes(serialization.Encoding.PEM) + self.certificate_pem
        return ServerCredentials(chain, _private_key_pem(key))


def install_trust(machine: MailMachine, ca: LabCA, system_bundle: Path = Path(TRUST_BUNDLE)) -> None:
    """Make every TLS client inside `machine` (curl, Python, swaks, postfix) trust the lab CA.

    The machine's bundle is the host's public bundle plus the lab CA, so nothing else changes.
    """
    public = system_bundle.read_bytes() if system_bundle.exists() else b""
    lab = ca.certificate_pem.decode()
    machine.write_file(LAB_CA_PATH, lab)
    machine.write_file(TRUST_BUNDLE, public.decode() + lab)


@dataclass(frozen=True)
class TlsFiles:
    """Where a daemon inside a machine reads its certificate chain and its private key."""

    certificate: str
    key: str

    def install(self, machine: MailMachine, credentials: ServerCredentials) -> None:
        machine.write_file(self.certificate, credentials.certificate_chain, mode=0o644)
        # Read by the daemons' master processes as root, before they drop privileges.
        machine.write_file(self.key, credentials.private_key, mode=0o600)
