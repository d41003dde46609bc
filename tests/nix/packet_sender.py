"""Send one probe packet per port (run inside a throwaway namespace; standard library only).

python3 packet_sender.py JOB_JSON
    JOB: {"probes": [{"source", "destination", "protocol": "tcp"|"udp"|"icmp",
                      "ports": [[first, last], ...], "mss": 1460}, ...]}
    For tcp, one SYN (with an MSS option) per destination port; for udp, one datagram per port;
    for icmp, one echo request ("ports" is ignored). Packets are built here and sent on raw
    sockets bound to `source` (an address of this namespace), with correct checksums, so that
    conntrack on the path sees a valid new connection and nothing but the ruleset decides.
    Prints the number of packets sent.
"""

from __future__ import annotations

import ipaddress
import json
import socket
import struct
import sys
from collections.abc import Iterator
from typing import Any

SOURCE_PORT = 40000
ICMP_ECHO = {4: 8, 6: 128}
ICMP_PROTOCOL = {4: socket.IPPROTO_ICMP, 6: socket.IPPROTO_ICMPV6}
PROTOCOLS = {"tcp": socket.IPPROTO_TCP, "udp": socket.IPPROTO_UDP}


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def pseudo_header(source: bytes, destination: bytes, protocol: int, length: int) -> bytes:
    if len(source) == 4:
        return source + destination + struct.pack("!BBH", 0, protocol, length)
    return source + destination + struct.pack("!I3xB", length, protocol)


def segment(protocol: str, port: int, mss: int) -> bytes:
    """A transport header with checksum 0 (filled in by `with_checksum`)."""
    if protocol == "tcp":
        # 24 bytes: data offset 6 words, SYN, window 64240, MSS option (kind 2, length 4).
        return struct.pack("!HHIIBBHHHBBH", SOURCE_PORT, port, 1, 0, 6 << 4, 0x02, 64240, 0, 0, 2, 4, mss)
    return struct.pack("!HHHH", SOURCE_PORT, port, 9, 0) + b"p"


def with_checksum(header: bytes, offset: int, pseudo: bytes) -> bytes:
    # A computed 0 is sent as 0xffff: a UDP checksum of 0 means "none".
    value = checksum(pseudo + header) or 0xFFFF
    return header[:offset] + struct.pack("!H", value) + header[offset + 2 :]


def port_numbers(ranges: list[list[int]]) -> Iterator[int]:
    for first, last in ranges:
        yield from range(first, last + 1)


def send(probe: dict[str, Any]) -> int:
    source, destination = ipaddress.ip_address(probe["source"]), ipaddress.ip_address(probe["destination"])
    version = source.version
    family = socket.AF_INET if version == 4 else socket.AF_INET6
    protocol = probe["protocol"]
    number = ICMP_PROTOCOL[version] if protocol == "icmp" else PROTOCOLS[protocol]
    sent = 0
    with socket.socket(family, socket.SOCK_RAW, number) as raw:
        raw.bind((str(source), 0))
        target = (str(destination), 0)
        if protocol == "icmp":
            echo = struct.pack("!BBHHH", ICMP_ECHO[version], 0, 0, 1, 1) + b"probe"
            pseudo = (
                b"" if version == 4 else pseudo_header(source.packed, destination.packed, number, len(echo))
            )
            raw.sendto(with_checksum(echo, 2, pseudo), target)
            return 1
        offset = 16 if protocol == "tcp" else 6
        for port in port_numbers(probe["ports"]):
            header = segment(protocol, port, int(probe.get("mss", 1460)))
            pseudo = pseudo_header(source.packed, destination.packed, number, len(header))
            raw.sendto(with_checksum(header, offset, pseudo), target)
            sent += 1
    return sent


def main() -> None:
    job = json.loads(sys.argv[1])
    print(sum(send(probe) for probe in job["probes"]))


if __name__ == "__main__":
    main()
