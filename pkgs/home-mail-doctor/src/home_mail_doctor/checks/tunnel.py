"""A WireGuard peer held against the plan: both ends use this (home's gateway, the gateway's homes)."""

from __future__ import annotations

import time
from typing import Any

from home_mail_doctor import classify
from home_mail_doctor.checks.context import Context
from home_mail_doctor.plan import Limits
from home_mail_doctor.probes import wireguard
from home_mail_doctor.probes.wireguard import Peer
from home_mail_doctor.report import Check, Status, judged


def peer_rows(
    planned: dict[str, Any], live: list[Peer], *, interface: str, unit: str, limits: Limits
) -> list[Check]:
    """Allowed IPs, endpoint, handshake age and counters of the planned peer `planned`."""
    name = f"wireguard.peer {planned['name']}"
    found = next((p for p in live if p.public_key == planned["publicKey"]), None)
    if found is None:
        keys = ", ".join(p.public_key[:8] + "…" for p in live) or "none"
        return [
            Check(
                f"{name} present",
                Status.FAIL,
                f"peers on {interface}: {keys}",
                f"public key {planned['publicKey']}",
                f"systemctl restart {unit} (the peer comes from the plan's wireguard.peers)",
            )
        ]
    wanted_ips = sorted(planned["allowedIPs"])
    rows = [
        judged(
            f"{name} allowed IPs",
            list(found.allowed_ips) == wanted_ips,
            ", ".join(found.allowed_ips) or "none",
            ", ".join(wanted_ips),
            f"wg set {interface} peer {planned['publicKey']} allowed-ips {','.join(wanted_ips)} "
            f"(or systemctl restart {unit})",
        )
    ]
    if planned.get("endpoint"):
        rows.append(
            judged(
                f"{name} endpoint",
                found.endpoint == planned["endpoint"],
                found.endpoint or "none",
                str(planned["endpoint"]),
                f"wg set {interface} peer {planned['publicKey']} endpoint {planned['endpoint']}",
            )
        )
    else:
        rows.append(
            judged(
                f"{name} endpoint",
                found.endpoint is not None,
                found.endpoint or "none",
                "learned from the peer's packets",
                "the peer has not reached us yet: check its tunnel (home-mail-doctor on it)",
            )
        )
    age = int(time.time()) - found.latest_handshake if found.latest_handshake else None
    status = classify.handshake_status(age, limits.handshake_warn, limits.handshake_fail)
    rows.append(
        Check(
            f"{name} handshake",
            status,
            "never" if age is None else f"{age} s ago (rx {found.rx_bytes} B, tx {found.tx_bytes} B)",
            f"within {limits.handshake_warn} s (fail after {limits.handshake_fail} s), traffic both ways",
            None
            if status is Status.OK
            else f"no recent handshake: check the peer's endpoint, UDP reachability, `wg show {interface}`",
        )
    )
    return rows


def planned_peers(ctx: Context, namespace_path: str | None) -> list[Check]:
    """Every peer of the plan's WireGuard interface, which lives in `namespace_path` (None: here)."""
    interface = ctx.plan["wireguard"]["interface"]
    live = wireguard.peers(interface, namespace_path)
    return [
        row
        for planned in ctx.plan["wireguard"]["peers"]
        for row in peer_rows(
            planned, live, interface=interface, unit=ctx.plan["wireguard"]["unit"], limits=ctx.doctor.limits
        )
    ]
