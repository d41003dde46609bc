"""Planned table entries held against the live table: routes, proxy neighbours (one row each)."""

from __future__ import annotations

from collections.abc import Iterable

from home_mail_doctor.report import Check, judged


def planned_entries(
    label: str, planned: Iterable[tuple[str, str]], live: Iterable[tuple[str, str]], add: str, unit: str
) -> list[Check]:
    """One row per planned (address, interface) entry: ok when `live` holds it, else the command
    adding it. `add` is that command with `{address}` and `{dev}` in it; `unit` realizes them all."""
    held = set(live)
    return [
        judged(
            f"{label} {address}",
            (address, dev) in held,
            f"dev {dev}" if (address, dev) in held else "missing",
            f"dev {dev}",
            f"{add.format(address=address, dev=dev)} (or systemctl restart {unit})",
        )
        for address, dev in planned
    ]
