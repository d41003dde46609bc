"""Read the lab's daemon logs for errors and warnings (the rules: mail_lab.lab.daemon_logs).

Where a daemon of a lab machine logs: its unit's log (`logs/<machine>/<unit>.log`: the output of
its commands and the service manager's notes; a container machine's journal is exported to these
files first, mail_lab.machine.journal) and, for postfix, dovecot and rspamd, its own file in the machine's
/var/log, which lives in `machines/<machine>/layer/var/log` (its container's overlay layer) while
the lab is up and is kept in `logs/<machine>/var-log` when it is torn down (mail_lab.lab.teardown).

A LogScan remembers how far it read each log, so every call reports only lines written since the
previous one, whether the lab is still up, was torn down, or built anew (a file whose first bytes
changed is a new file and is read from its start). A test that provokes an error on purpose (a
wrong password, a daemon it stops) says so with `expect`, naming the line and why it comes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from mail_lab.lab.daemon_logs import PROBLEM_MARKERS, log_problems
from mail_lab.lab.paths import STATE_BASE
from mail_lab.machine.journal import export_journal
from mail_lab.services import dovecot, postfix, rspamd

# Daemon -> the unit logs (glob patterns of `<unit>.log`) that are its.
UNIT_LOGS: dict[str, tuple[str, ...]] = {
    "postfix": ("postfix.service.log",),
    "dovecot": ("dovecot.service.log",),
    "rspamd": ("rspamd.service.log",),
    "redis": ("redis-*.service.log",),
    "kresd": ("kresd@*.service.log",),
    "wireguard": ("wireguard-*.service.log", "home-mail-endpoints-*.service.log"),
    "acme": ("acme-*.service.log",),
}
# Daemon -> its own log files, relative to the machine's /var/log.
VAR_LOG_FILES: dict[str, tuple[str, ...]] = {
    "postfix": (postfix.LOG_FILE.removeprefix("/var/log/"),),
    "dovecot": (dovecot.LOG_FILE.removeprefix("/var/log/"),),
    "rspamd": (f"{rspamd.LOG_DIR.removeprefix('/var/log/')}/rspamd.log",),
}
# A machine's /var/log while it is up, seen from the host: its container's overlay layer.
CONTAINER_VAR_LOG = "layer/var/log"
HEAD_BYTES = 256
MAX_READ_BYTES = 64 * 1024 * 1024


@dataclass(frozen=True)
class DaemonLog:
    """One log of one daemon on one machine of one lab."""

    prefix: str
    machine: str
    daemon: str
    name: str  # the unit log's name, or the path under /var/log
    path: Path

    @property
    def key(self) -> str:
        return f"{self.prefix} {self.machine} {self.name}"


def every_lab(prefix: str) -> bool:
    return True


def daemon_logs(base: Path = STATE_BASE, labs: Callable[[str], bool] = every_lab) -> Iterator[DaemonLog]:
    """Every daemon log of every lab under `base` whose prefix `labs` accepts."""
    for root in sorted(base.glob("*-")) if base.is_dir() else []:
        if not labs(root.name):
            continue
        logs = root / "logs"
        # A container machine's units log to its journal: exported as unit logs first.
        for layer_log in sorted(root.glob(f"machines/*/{CONTAINER_VAR_LOG}")):
            export_journal(layer_log, logs / layer_log.parents[2].name)
        for machine_dir in sorted(logs.iterdir()) if logs.is_dir() else []:
            machine = machine_dir.name
            live = root / "machines" / machine / CONTAINER_VAR_LOG
            var_log = live if live.is_dir() else machine_dir / "var-log"
            for daemon in PROBLEM_MARKERS:
                for pattern in UNIT_LOGS.get(daemon, ()):
                    for path in sorted(machine_dir.glob(pattern)):
                        yield DaemonLog(root.name, machine, daemon, path.name, path)
                for relative in VAR_LOG_FILES.get(daemon, ()):
                    if (var_log / relative).is_file():
                        yield DaemonLog(root.name, machine, daemon, relative, var_log / relative)


@dataclass(frozen=True)
class ExpectedLine:
    """A line a test makes a daemon log on purpose."""

    daemon: str
    pattern: str
    why: str

    def matches(self, daemon: str, line: str) -> bool:
        return daemon == self.daemon and re.search(self.pattern, line) is not None


@dataclass
class LogScan:
    base: Path = STATE_BASE
    # The labs (by prefix) it reads: another process may be scanning (and exporting) the others.
    labs: Callable[[str], bool] = every_lab
    expected: list[ExpectedLine] = field(default_factory=list)
    # DaemonLog.key -> (bytes read, the file's first bytes then: at most HEAD_BYTES of them).
    read: dict[str, tuple[int, bytes]] = field(default_factory=dict)

    def expect(self, daemon: str, pattern: str, why: str) -> None:
        """Lines of `daemon` matching `pattern` (re.search) are no problem until `forget_expected`."""
        if daemon not in PROBLEM_MARKERS:
            raise ValueError(f"unknown daemon {daemon!r}: one of {', '.join(PROBLEM_MARKERS)}")
        self.expected.append(ExpectedLine(daemon, pattern, why))

    def forget_expected(self) -> None:
        self.expected.clear()

    def skip_to_end(self) -> None:
        """Treat everything logged so far as read."""
        for log in daemon_logs(self.base, self.labs):
            self._new_text(log)

    def problems(self) -> list[str]:
        """Error and warning lines logged since the previous call and not allowed, one per line:
        `<prefix> <machine> <daemon> <log>: <line>`."""
        found: list[str] = []
        for log in daemon_logs(self.base, self.labs):
            lines = self._new_text(log).splitlines()
            found += [
                f"{log.prefix} {log.machine} {log.daemon} {log.name}: {line}"
                for line in log_problems(log.daemon, lines)
                if not any(expected.matches(log.daemon, line) for expected in self.expected)
            ]
        return found

    def _new_text(self, log: DaemonLog) -> str:
        try:
            with log.path.open("rb") as file:
                head = file.read(HEAD_BYTES)
                offset, known_head = self.read.get(log.key, (0, b""))
                # Another file under the same name (a new lab): its start differs.
                if not head.startswith(known_head) or offset > log.path.stat().st_size:
                    offset = 0
                file.seek(offset)
                data = file.read(MAX_READ_BYTES)
        except OSError:
            return ""
        # Only whole lines: a line being written is read once it is complete.
        complete = data[: data.rfind(b"\n") + 1]
        self.read[log.key] = (offset + len(complete), head)
        return complete.decode(errors="replace")
