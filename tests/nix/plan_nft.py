"""Load nftables rulesets for real, inside a throwaway network namespace that is always deleted.

Needs root, `ip` (iproute2) and `nft` (nftables). The namespace is named
`nixplan-test-<random>`, so it never collides with the lab's (`mlab-...`) or anything else.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

NAMESPACE_PREFIX = "nixplan-test-"
COMMAND_TIMEOUT_SECONDS = 30


def missing_requirement() -> str | None:
    """Why rulesets cannot be loaded here, or None when they can."""
    if os.geteuid() != 0:
        return "loading nftables rulesets needs root (a network namespace per test)"
    for program in ("ip", "nft"):
        if shutil.which(program) is None:
            return f"{program} is not installed"
    return None


def run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=COMMAND_TIMEOUT_SECONDS)


@contextmanager
def throwaway_namespaces(count: int) -> Iterator[list[str]]:
    """`count` new namespaces with loopback up, all deleted on exit (veths in them go too)."""
    names: list[str] = []
    try:
        for _ in range(count):
            name = NAMESPACE_PREFIX + secrets.token_hex(4)
            created = run(["ip", "netns", "add", name])
            if created.returncode != 0:
                raise RuntimeError(f"ip netns add {name} failed: {created.stderr.strip()}")
            names.append(name)
            run(["ip", "-n", name, "link", "set", "lo", "up"])
        yield names
    finally:
        for name in names:
            run(["ip", "netns", "delete", name])


@contextmanager
def throwaway_namespace() -> Iterator[str]:
    with throwaway_namespaces(1) as (name,):
        yield name


def nft_in(namespace: str, *arguments: str) -> subprocess.CompletedProcess[str]:
    return run(["ip", "netns", "exec", namespace, "nft", *arguments])


class RulesetRejectedError(Exception):
    """nft refused a ruleset; the message holds nft's complaint and the ruleset."""


def load_ruleset(namespace: str, ruleset: str, directory: Path) -> list[dict[str, Any]]:
    """Check the ruleset with `nft -c`, load it, and return `nft -j list ruleset`'s objects."""
    path = directory / "ruleset.nft"
    path.write_text(ruleset)
    for arguments in (["-c", "-f", str(path)], ["-f", str(path)]):
        result = nft_in(namespace, *arguments)
        if result.returncode != 0:
            raise RulesetRejectedError(f"nft {' '.join(arguments)}: {result.stderr}\n{ruleset}")
    listed = nft_in(namespace, "-j", "list", "ruleset")
    if listed.returncode != 0:
        raise RuntimeError(f"nft -j list ruleset failed: {listed.stderr}")
    objects: list[dict[str, Any]] = json.loads(listed.stdout)["nftables"]
    return objects


def objects_of_kind(objects: list[dict[str, Any]], kind: str) -> dict[str, dict[str, Any]]:
    """The listed objects of one kind ("set", "chain", ...) by name."""
    return {item[kind]["name"]: item[kind] for item in objects if kind in item}


def rules_of_chain(objects: list[dict[str, Any]], chain: str) -> list[dict[str, Any]]:
    return [item["rule"] for item in objects if "rule" in item and item["rule"]["chain"] == chain]


# Plans whose rulesets the tests load: the test world and overrides of it (tests/topology.nix).
GATEWAY_VARIANTS: dict[str, dict[str, Any]] = {
    "test-world": {},
    "no-mss-clamp-udp-and-two-homes": {
        "gateway": {
            "mssClamp": False,
            "forwardedPorts": {"udp": [53, 443]},
            "homes": {
                "cabin": {
                    "publicKey": "QmCf7x1KICML83RoIwQsebnJN5X8FtNNXtAnAsbQq0c=",
                    "addresses": ["203.0.113.77/32", "2001:db8:4::77/128"],
                }
            },
        }
    },
    "ipv4-only-no-ports-dotted-uplink": {
        "home": {"addresses": ["198.51.100.11/32"], "openPorts": {"tcp": []}},
        "gateway": {"uplink": {"interface": "ens3.100"}, "wireguard": {"interface": "wg-home", "mtu": 1280}},
    },
}

HOME_VARIANTS: dict[str, dict[str, Any]] = {
    "test-world": {},
    "udp-only": {"home": {"openPorts": {"tcp": [], "udp": [53, 443]}}},
}
