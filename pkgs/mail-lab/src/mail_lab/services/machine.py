"""What code outside the lab's machine class needs from a machine: one place for that protocol.

`DriverMachine` is the part of the NixOS test driver's Machine API that runs commands (enough for
`mail_lab.mail.flow`); `MailMachine` adds what the services need to install their files. The lab's
`mail_lab.machine.api.Machine` implements both; tests may pass any object of the same shape.
"""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class DriverMachine(Protocol):
    def succeed(self, command: str, /, *, timeout: int | None = None) -> str:
        """Run a shell command inside the machine (for at most `timeout` seconds if given); raise
        unless it exits 0; return its output."""
        ...

    def execute(self, command: str) -> tuple[int, str]:
        """Run a shell command inside the machine; return (exit code, output)."""
        ...


class MailMachine(DriverMachine, Protocol):
    @property
    def name(self) -> str: ...

    @property
    def state_dir(self) -> Path: ...

    def write_file(
        self,
        path: str,
        content: str | bytes,
        mode: int = 0o644,
        owner: str | None = None,
        group: str | None = None,
    ) -> None:
        """Write `content` to `path` as seen inside the machine."""
        ...
