"""Units, their main processes and the postfix queue, asked of systemd and postfix (read-only)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from home_mail_doctor.probes.command import run


def unit_instances(service: str) -> list[str]:
    """The loaded units of a `systemd.services` name; a template (`kresd@`) gives its instances."""
    if not service.endswith("@"):
        return [f"{service}.service"]
    listed = run(["systemctl", "list-units", "--all", "--plain", "--no-legend"])
    names = [line.split()[0] for line in listed.splitlines() if line.strip()]
    return [
        n for n in names if n.startswith(service) and n.endswith(".service") and n != f"{service}.service"
    ]


def main_pid(unit: str) -> int:
    return int(run(["systemctl", "show", "--property", "MainPID", "--value", unit]).strip() or 0)


def namespace_inode(path: str) -> int:
    return os.stat(path).st_ino


@dataclass(frozen=True)
class QueuedMessage:
    queue: str
    arrival: int
    reasons: tuple[str, ...]


def postfix_queue() -> list[QueuedMessage]:
    """`postqueue -j`: one JSON object per queued message."""
    messages = []
    for line in run(["postqueue", "-j"]).splitlines():
        if line.strip():
            entry = json.loads(line)
            reasons = tuple(
                str(r.get("delay_reason", "")) for r in entry.get("recipients", []) if r.get("delay_reason")
            )
            messages.append(QueuedMessage(entry["queue_name"], int(entry["arrival_time"]), reasons))
    return messages
