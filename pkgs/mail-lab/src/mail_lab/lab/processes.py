"""Processes the lab started, identified so that a reused PID is never mistaken for one of them.

A process is recorded as (pid, start time in clock ticks since boot); it is "still ours" only
while /proc/<pid>/stat shows the same start time and it is not a zombie.
"""

from __future__ import annotations

import contextlib
import os
import signal
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mail_lab.polling import poll

POLL_INTERVAL = 0.05


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is in parentheses and may contain spaces: split after its closing one.
    return text[text.rindex(")") + 2 :].split()


@dataclass(frozen=True)
class ProcessRef:
    pid: int
    start_time: int

    @classmethod
    def of(cls, pid: int) -> ProcessRef:
        """The running process `pid` as it is now."""
        fields = _stat_fields(pid)
        if fields is None:
            raise ProcessLookupError(f"process {pid} does not exist")
        return cls(pid, int(fields[19]))

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ProcessRef:
        return cls(int(data["pid"]), int(data["start_time"]))

    def to_json(self) -> dict[str, int]:
        return {"pid": self.pid, "start_time": self.start_time}

    def alive(self) -> bool:
        fields = _stat_fields(self.pid)
        return fields is not None and fields[0] != "Z" and int(fields[19]) == self.start_time

    def signal(self, signum: int) -> None:
        if self.alive():
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signum)

    def signal_group(self, signum: int) -> None:
        """Signal the process group the process leads (the lab starts units in their own session)."""
        if self.alive():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                if os.getpgid(self.pid) == self.pid:
                    os.killpg(self.pid, signum)
                    return
            self.signal(signum)

    def wait_gone(self, timeout: float) -> bool:
        def gone() -> bool:
            reap(self.pid)  # a zombie child of ours is dead: collect it
            return not self.alive()

        return poll(gone, timeout, POLL_INTERVAL) is not None or not self.alive()

    def terminate(self, timeout: float = 10.0, group: bool = True) -> None:
        """SIGTERM, then SIGKILL after `timeout` seconds; returns once it is gone (bounded)."""
        send = self.signal_group if group else self.signal
        send(signal.SIGTERM)
        if not self.wait_gone(timeout):
            send(signal.SIGKILL)
            self.wait_gone(5.0)


def reap(pid: int) -> None:
    """Collect `pid` if it is a zombie child of ours (no effect otherwise)."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def namespace_inode(pid: int | str, kind: str) -> int | None:
    """The inode of /proc/<pid>/ns/<kind> (net, mnt, uts), or None if the process is gone."""
    try:
        return os.stat(f"/proc/{pid}/ns/{kind}").st_ino
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None


def all_pids() -> list[int]:
    return [int(entry) for entry in os.listdir("/proc") if entry.isdigit()]
