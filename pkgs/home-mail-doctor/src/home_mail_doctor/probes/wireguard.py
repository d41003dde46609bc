"""WireGuard peers from `wg show <interface> dump` (kernel and userspace implementations alike)."""

from __future__ import annotations

from dataclasses import dataclass

from home_mail_doctor.probes.command import ProbeError, run


@dataclass(frozen=True)
class Peer:
    public_key: str
    endpoint: str | None
    allowed_ips: tuple[str, ...]
    latest_handshake: int  # Unix time, 0 = never
    rx_bytes: int
    tx_bytes: int


def parse_dump(text: str) -> list[Peer]:
    """The peer lines of a dump (the first line is the interface's own)."""
    peers = []
    for line in text.strip().splitlines()[1:]:
        fields = line.split("\t")
        if len(fields) < 8:
            raise ProbeError(f"unexpected `wg show dump` line: {line!r}")
        peers.append(
            Peer(
                public_key=fields[0],
                endpoint=None if fields[2] == "(none)" else fields[2],
                allowed_ips=tuple(sorted(a for a in fields[3].split(",") if a and a != "(none)")),
                latest_handshake=int(fields[4]),
                rx_bytes=int(fields[5]),
                tx_bytes=int(fields[6]),
            )
        )
    return peers


def peers(interface: str, namespace_path: str | None = None) -> list[Peer]:
    return parse_dump(run(["wg", "show", interface, "dump"], namespace_path))
