"""Turning one defence of the lab off for a while, and watching what reaches a machine.

Used by tests/lab/test_security.py to prove each layer alone: a layer's chain gets an `accept`
at its top (so it lets everything through) that is always removed again; a recorder table notes
each TCP SYN arriving at a machine (source, port, MSS option) without changing anything.
Only the Machine API (succeed) is used, so these work wherever the machines run.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NamedTuple

from mail_lab.machine.api import Machine
from mail_lab.mail import flow

LAYER_OFF_COMMENT = "mls-layer-off"
RECORDER_TABLE = "mls_seen"


def in_namespace(namespace: str | None) -> str:
    return f"ip netns exec {namespace} " if namespace else ""


@contextmanager
def layer_off(machine: Machine, table: str, chain: str, namespace: str | None = None) -> Iterator[None]:
    """The chain `inet table chain` accepts everything until the block ends (then it is as before)."""
    nft = f"{in_namespace(namespace)}nft"
    machine.succeed(f"{nft} insert rule inet {table} {chain} accept comment '\"{LAYER_OFF_COMMENT}\"'")
    try:
        yield
    finally:
        listed = machine.succeed(f"{nft} -a list chain inet {table} {chain}")
        for handle in re.findall(rf'comment "{LAYER_OFF_COMMENT}" # handle (\d+)', listed):
            machine.succeed(f"{nft} delete rule inet {table} {chain} handle {handle}")


def knock(machine: Machine, address: str, port: int, namespace: str | None = None, source: str = "") -> str:
    """One connection attempt with a single SYN (the agent's `knock`): "open <first line>",
    "refused" or "timeout"."""
    command = flow.knock_command(address=address, port=port, source=source or None)
    output = machine.succeed(f"{in_namespace(namespace)}{command}")
    return str(json.loads(output.strip().splitlines()[-1])["reply"])


class Syn(NamedTuple):
    source: str
    port: int
    mss: int


def recorder_ruleset() -> str:
    sets, rules = "", ""
    for name, (family, address) in {"syn4": ("ipv4", "ip saddr"), "syn6": ("ipv6", "ip6 saddr")}.items():
        key = f"{address} . tcp dport . tcp option maxseg size"
        sets += f"\tset {name} {{ typeof {key}; flags dynamic; size 4096; }}\n"
        rules += f"\t\tmeta nfproto {family} tcp flags == syn add @{name} {{ {key} }}\n"
    chain = f"\tchain seen {{\n\t\ttype filter hook prerouting priority -300; policy accept;\n{rules}\t}}\n"
    return f"table inet {RECORDER_TABLE} {{\n{sets}{chain}}}\n"


@contextmanager
def syns_seen(machine: Machine, namespace: str | None = None) -> Iterator[Callable[[], set[Syn]]]:
    """While the block runs, the SYNs (not SYN-ACKs) that arrive at `machine` (or its namespace)
    are recorded; the yielded function returns those seen so far."""
    prefix = in_namespace(namespace)
    machine.succeed(f"{prefix}nft -f - <<'EOF'\n{recorder_ruleset()}EOF")

    def seen() -> set[Syn]:
        found: set[Syn] = set()
        for name in ("syn4", "syn6"):
            listed = json.loads(machine.succeed(f"{prefix}nft -j list set inet {RECORDER_TABLE} {name}"))
            for item in listed["nftables"]:
                for element in item.get("set", {}).get("elem", []):
                    value = element["elem"]["val"] if "elem" in element else element
                    source, port, mss = value["concat"]
                    found.add(Syn(str(source), int(port), int(mss)))
        return found

    try:
        yield seen
    finally:
        machine.succeed(f"{prefix}nft delete table inet {RECORDER_TABLE}")
