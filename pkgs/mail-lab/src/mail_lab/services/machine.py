"""What the services need from a lab machine (implemented by the lab's machine class)."""

from __future__ import annotations

from pathlib import Path
from typing import Protocol


class MailMachine(Protocol):
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
        """Write `content` to `path` as seen inside the machine (one of its private paths)."""
        ...

    def succeed(self, command: str) -> str:
        """Run a shell command inside the machine; raise unless it exits 0; return its output."""
        ...

    def execute(self, command: str) -> tuple[int, str]: ...
