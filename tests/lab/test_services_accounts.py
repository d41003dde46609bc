"""Accounts and their passwords kept in the lab state (no root needed)."""

import stat
import subprocess
from pathlib import Path
from typing import Any

from mail_lab.services.accounts import account_for, ensure_accounts, load_accounts
from mail_lab.services.dovecot import password_hash
from mail_lab.services.world import MailWorld


def small_topology(passwords: dict[str, str]) -> dict[str, Any]:
    machine = {"ipv4": "192.0.2.10/24", "ipv6": "2001:db8:3::10/64", "fqdn": "mx.example.net"}
    return {
        "world": {
            "domains": {"home": "example.org", "remote": "example.net"},
            "machines": {
                "home": {"fqdn": "mail.example.org"},
                "remote": {**machine, "maildir": "/var/mail/b/"},
            },
            "internet": {
                "dns": {"name": "ns.example.net", "ipv4": "192.0.2.53", "ipv6": "2001:db8:3::53"},
                "links": {},
            },
            "accounts": {"home": "alice@example.org", "remote": "bob@example.net"},
            "passwords": passwords,
        },
        "plans": {"home": {"addresses": {"ipv4": ["198.51.100.11"], "ipv6": ["2001:db8:1::11"]}}},
    }


def test_topology_passwords_are_kept_and_others_generated_once(tmp_path: Path) -> None:
    world = MailWorld.from_topology(small_topology({"alice@example.org": "given"}))
    first = {a.address: a.password for a in ensure_accounts(world, tmp_path)}
    assert first["alice@example.org"] == "given"
    assert len(first["bob@example.net"]) >= 16
    again = {a.address: a.password for a in ensure_accounts(world, tmp_path)}
    assert again == first, "a second bring-up changed the passwords"
    assert stat.S_IMODE((tmp_path / "accounts.json").stat().st_mode) == 0o600
    assert {a.address for a in load_accounts(tmp_path)} == set(first)
    assert account_for(tmp_path, "remote").password == first["bob@example.net"]


def test_password_hash_is_sha512_crypt_that_dovecot_accepts(tmp_path: Path) -> None:
    hashed = password_hash("correct horse")
    assert hashed.startswith("{SHA512-CRYPT}$6$")
    check = ["doveadm", "pw", "-t", hashed, "-p"]
    assert subprocess.run([*check, "correct horse"], capture_output=True, check=False).returncode == 0
    assert subprocess.run([*check, "wrong"], capture_output=True, check=False).returncode != 0
