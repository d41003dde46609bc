"""A planned nftables table held against the loaded ruleset: its chains, hooks, policies, MSS clamp."""

from __future__ import annotations

import json
import re
from typing import Any

from home_mail_doctor.probes import nftables
from home_mail_doctor.report import Check, judged

CHAIN = re.compile(r"chain (\S+) \{\s*type \S+ hook (\S+) priority [^;]+; policy (\S+);")


def planned_chains(ruleset: str) -> list[str]:
    return sorted(f"{name} ({hook}, policy {policy})" for name, hook, policy in CHAIN.findall(ruleset))


def table_rows(label: str, planned: dict[str, Any], namespace_path: str | None, fix: str) -> list[Check]:
    tables = nftables.ruleset(namespace_path)
    key = (planned["family"], planned["name"])
    wanted = planned_chains(planned["ruleset"])
    expects = f"table {key[0]} {key[1]}: " + ", ".join(wanted)
    chains = tables.get(key)
    if chains is None:
        return [judged(label, False, f"no table {key[0]} {key[1]}", expects, fix)]
    live = sorted(f"{c.name} ({c.hook}, policy {c.policy})" for c in chains.values() if c.hook)
    problems = [] if live == wanted else [", ".join(live) or "no base chains"]
    if "maxseg" in planned["ruleset"] and not any("maxseg" in json.dumps(c.rules) for c in chains.values()):
        problems.append("no MSS clamp rule")
    return [judged(label, not problems, "; ".join(problems) or "loaded as planned", expects, fix)]
