"""The loaded nftables ruleset (`nft -j list ruleset`), reduced to tables, chains and their rules."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from home_mail_doctor.probes.command import ProbeError, run


@dataclass
class Chain:
    name: str
    hook: str | None
    policy: str | None
    rules: list[Any] = field(default_factory=list)


def parse(text: str) -> dict[tuple[str, str], dict[str, Chain]]:
    """(family, table) -> chain name -> chain."""
    try:
        items = json.loads(text)["nftables"]
    except (json.JSONDecodeError, KeyError, TypeError) as error:
        raise ProbeError(f"`nft -j list ruleset` printed no ruleset: {error}") from None
    tables: dict[tuple[str, str], dict[str, Chain]] = {}
    for item in items:
        if "table" in item:
            tables.setdefault((item["table"]["family"], item["table"]["name"]), {})
        elif "chain" in item:
            c = item["chain"]
            tables.setdefault((c["family"], c["table"]), {})[c["name"]] = Chain(
                c["name"], c.get("hook"), c.get("policy")
            )
        elif "rule" in item:
            r = item["rule"]
            chain = tables.get((r["family"], r["table"]), {}).get(r["chain"])
            if chain is not None:
                chain.rules.append(r.get("expr", []))
    return tables


def ruleset(namespace_path: str | None = None) -> dict[tuple[str, str], dict[str, Chain]]:
    return parse(run(["nft", "-j", "list", "ruleset"], namespace_path))
