"""The lab CA and the server certificates it issues (no root needed)."""

import stat
import subprocess
from pathlib import Path

import pytest
from cryptography import x509

from mail_lab.services.tls import KEY_USAGE_FLAGS, LabCA, key_usage


def openssl_verify(ca: Path, chain: bytes, tmp_path: Path, name: str) -> subprocess.CompletedProcess[str]:
    leaf = tmp_path / "leaf.pem"
    leaf.write_bytes(chain)
    return subprocess.run(
        [
            "openssl",
            "verify",
            "-CAfile",
            str(ca),
            "-verify_hostname",
            name,
            "-purpose",
            "sslserver",
            str(leaf),
        ],
        capture_output=True,
        text=True,
        check=False,
    )


def test_issued_certificate_verifies_for_its_names_only(tmp_path: Path) -> None:
    ca = LabCA.create(tmp_path / "state")
    credentials = ca.issue(["mx.example.net", "mx4.example.net"])
    ca_file = tmp_path / "state" / "tls" / "ca.pem"
    for name in ("mx.example.net", "mx4.example.net"):
        result = openssl_verify(ca_file, credentials.certificate_chain, tmp_path, name)
        assert result.returncode == 0, result.stdout + result.stderr
    wrong = openssl_verify(ca_file, credentials.certificate_chain, tmp_path, "mail.example.org")
    assert wrong.returncode != 0, "a certificate for mx.example.net verified for mail.example.org"


def test_chain_is_leaf_then_ca_and_keys_are_private(tmp_path: Path) -> None:
    state = tmp_path / "state"
    ca = LabCA.create(state)
    chain = x509.load_pem_x509_certificates(ca.issue(["mail.example.org"]).certificate_chain)
    assert chain[0].subject.rfc4514_string() == "CN=mail.example.org"
    assert chain[1] == ca.certificate
    for key in (state / "tls").glob("*.key"):
        assert stat.S_IMODE(key.stat().st_mode) == 0o600, key


def test_ca_and_certificates_are_reused_by_a_later_bring_up(tmp_path: Path) -> None:
    state = tmp_path / "state"
    first = LabCA.create(state)
    issued = first.issue(["mail.example.org"])
    again = LabCA.create(state)
    assert again.certificate == first.certificate
    assert again.issue(["mail.example.org"]) == issued
    # Other names: a new certificate.
    assert again.issue(["mail.example.org", "imap.example.org"]).private_key != issued.private_key


def test_hosts_of_different_domains_keep_separate_files(tmp_path: Path) -> None:
    ca = LabCA.create(tmp_path / "state")
    org = ca.issue(["mail.example.org"])
    net = ca.issue(["mail.example.net"])
    assert ca.issue(["mail.example.org"]) == org
    assert org != net


def test_expired_certificate_fails_verification_only_by_its_date(tmp_path: Path) -> None:
    ca = LabCA.create(tmp_path / "state")
    expired = ca.issue_expired(["mail.example.org"])
    result = openssl_verify(
        tmp_path / "state" / "tls" / "ca.pem", expired.certificate_chain, tmp_path, "mail.example.org"
    )
    assert result.returncode != 0 and "certificate has expired" in result.stdout + result.stderr, result
    # Not kept: the server's own certificate is still the valid one.
    assert not (tmp_path / "state" / "tls" / "mail.example.org.pem").exists()
    valid = ca.issue(["mail.example.org"]).certificate_chain
    assert (
        openssl_verify(tmp_path / "state" / "tls" / "ca.pem", valid, tmp_path, "mail.example.org").returncode
        == 0
    )


def test_the_ca_may_sign_certificates_and_revocation_lists_only(tmp_path: Path) -> None:
    ca = LabCA.create(tmp_path / "state")
    usage = ca.certificate.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    allowed = {flag for flag in KEY_USAGE_FLAGS if flag not in ("encipher_only", "decipher_only")}
    assert {flag for flag in allowed if getattr(usage.value, flag)} == {
        "digital_signature",
        "key_cert_sign",
        "crl_sign",
    }
    with pytest.raises(ValueError, match="not a key usage: cert_sign"):
        key_usage("cert_sign")
