"""The lab's mail accounts and their passwords.

The accounts are `world.accounts` of the topology. A password given by the topology
(`world.passwords`, test-only) is used as is, so the shared scenarios can log in; any other account
gets a generated one. All of them are kept in `<lab state>/accounts.json` (mode 600), which the
demo and the tests read with `load_accounts`.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path

from mail_lab.services.files import write_private
from mail_lab.services.world import MailWorld

ACCOUNTS_FILE = "accounts.json"


@dataclass(frozen=True)
class Account:
    role: str  # the machine whose domain the account belongs to: "home" | "remote"
    address: str
    password: str

    @property
    def local_part(self) -> str:
        return self.address.rsplit("@", 1)[0]

    @property
    def domain(self) -> str:
        return self.address.rsplit("@", 1)[1]


def ensure_accounts(world: MailWorld, state_dir: Path) -> list[Account]:
    """The accounts of `world`, with passwords kept stable across bring-ups of the same lab."""
    path = state_dir / ACCOUNTS_FILE
    stored = {account.address: account.password for account in load_accounts(state_dir)}
    accounts = [
        Account(
            role=role,
            address=address,
            password=world.passwords.get(address) or stored.get(address) or secrets.token_urlsafe(18),
        )
        for role, address in sorted(world.accounts.items())
    ]
    content = [{"role": a.role, "address": a.address, "password": a.password} for a in accounts]
    state_dir.mkdir(parents=True, exist_ok=True)
    write_private(path, (json.dumps(content, indent=2) + "\n").encode())
    return accounts


def load_accounts(state_dir: Path) -> list[Account]:
    """The accounts written by `ensure_accounts` (none before the first bring-up)."""
    path = state_dir / ACCOUNTS_FILE
    if not path.exists():
        return []
    return [Account(**entry) for entry in json.loads(path.read_text())]


def account_for(state_dir: Path, role: str) -> Account:
    for account in load_accounts(state_dir):
        if account.role == role:
            return account
    raise LookupError(f"no {role} account in {state_dir / ACCOUNTS_FILE}; is the lab up?")
