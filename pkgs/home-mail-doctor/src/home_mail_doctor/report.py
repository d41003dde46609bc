"""Check results and their rendering: a table for people, JSON for monitoring, an exit code."""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass


class Status(enum.Enum):
    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    SKIPPED = "skipped"


@dataclass(frozen=True)
class Check:
    name: str
    status: Status
    saw: str
    expects: str
    fix: str | None = None

    def __post_init__(self) -> None:
        if self.status in (Status.WARN, Status.FAIL) and not self.fix:
            raise ValueError(f"{self.name}: a {self.status.value} needs a fix line")


def ok(name: str, saw: str, expects: str) -> Check:
    return Check(name, Status.OK, saw, expects)


def judged(name: str, good: bool, saw: str, expects: str, fix: str) -> Check:
    """ok when `good`, else a failure with its fix."""
    return Check(name, Status.OK if good else Status.FAIL, saw, expects, None if good else fix)


def exit_code(checks: Sequence[Check]) -> int:
    statuses = {check.status for check in checks}
    if Status.FAIL in statuses:
        return 2
    return 1 if Status.WARN in statuses else 0


def render_json(role: str, checks: Sequence[Check]) -> str:
    return json.dumps(
        {
            "role": role,
            "exitCode": exit_code(checks),
            "checks": [
                {"name": c.name, "status": c.status.value, "saw": c.saw, "expects": c.expects, "fix": c.fix}
                for c in checks
            ],
        },
        indent=2,
    )


def render_table(role: str, checks: Sequence[Check], width: int = 48) -> str:
    """One row per check; a warn or fail row is followed by its `fix:` line."""

    def cut(text: str) -> str:
        return text if len(text) <= width else text[: width - 1] + "…"

    name_width = max([len(c.name) for c in checks] + [5])
    lines = [f"home-mail-doctor: {role}", f"{'check':{name_width}}  {'status':7}  {'saw':{width}}  expects"]
    for c in checks:
        lines.append(f"{c.name:{name_width}}  {c.status.value:7}  {cut(c.saw):{width}}  {cut(c.expects)}")
        if c.fix:
            lines.append(f"{'':{name_width}}  fix: {c.fix}")
    counts = {s: sum(c.status is s for c in checks) for s in Status}
    lines.append(", ".join(f"{counts[s]} {s.value}" for s in Status))
    return "\n".join(lines) + "\n"
