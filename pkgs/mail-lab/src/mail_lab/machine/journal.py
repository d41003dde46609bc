"""A container machine's journal as one text log per unit, for the log scan (mail_lab.lab.log_scan).

The machines' journald keeps its journal in the machine's /var/log/journal (Debian's default,
persistent), which lives in the machine's overlay layer on the host. `export_journal` reads it
with the host's journalctl and writes `<log_dir>/<unit>.log`: the messages of the unit's own
processes and systemd's messages about the unit (`UNIT=`, e.g. "Failed with result"), in journal
order. A later export rewrites the files with the same beginning, so a reader that remembers its
offset reads only the new lines.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from mail_lab.commands import run

EXPORT_TIMEOUT = 30.0
# Units of systemd itself, not of a daemon.
SKIPPED_UNITS = frozenset({"init.scope", ""})


def journal_files(var_log: Path) -> list[Path]:
    return sorted(var_log.glob("journal/*/*.journal")) if (var_log / "journal").is_dir() else []


def _message(value: object) -> str:
    """MESSAGE as journalctl's JSON gives it: a string, or a list of bytes for binary data."""
    if isinstance(value, list):
        return bytes(int(b) for b in value).decode(errors="replace")
    return str(value)


def unit_messages(var_log: Path) -> dict[str, list[str]]:
    """Unit name -> its journal lines, from the journal under `var_log`."""
    files = journal_files(var_log)
    if not files:
        return {}
    argv = ["journalctl", "--no-pager", "--output=json", "--output-fields=MESSAGE,_SYSTEMD_UNIT,UNIT"]
    result = run([*argv, *(f"--file={path}" for path in files)], timeout=EXPORT_TIMEOUT, check=False)
    lines: dict[str, list[str]] = defaultdict(list)
    for row in result.stdout.splitlines():
        try:
            entry = json.loads(row)
        except ValueError:
            continue
        unit = str(entry.get("_SYSTEMD_UNIT") or "")
        if unit in SKIPPED_UNITS:
            unit = str(entry.get("UNIT") or "")
        if unit in SKIPPED_UNITS or "MESSAGE" not in entry:
            continue
        lines[unit] += _message(entry["MESSAGE"]).splitlines()
    return dict(lines)


def export_journal(var_log: Path, log_dir: Path) -> None:
    """Write each unit's journal lines to `<log_dir>/<unit>.log`."""
    messages = unit_messages(var_log)
    if not messages:
        return
    log_dir.mkdir(parents=True, exist_ok=True)
    for unit, lines in messages.items():
        if "/" in unit:
            continue
        (log_dir / f"{unit}.log").write_text("".join(f"{line}\n" for line in lines))
