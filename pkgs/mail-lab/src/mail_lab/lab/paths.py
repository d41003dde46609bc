"""The lab's identity: its prefix and where it keeps its state.

Every global name the lab creates starts with the prefix (network namespaces `<prefix><machine>`),
and everything it records lives under `/run/mail-lab/<prefix>/`, so two labs with different
prefixes never touch each other.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from mail_lab.errors import LabError

DEFAULT_PREFIX = "mlab-"
PREFIX_ENV = "MAIL_LAB_PREFIX"
STATE_BASE = Path("/run/mail-lab")
# Short enough that `<prefix><machine>` stays a readable namespace name; ends with a separator
# so that a prefix can never be the whole name of something else.
PREFIX_PATTERN = re.compile(r"^[a-z][a-z0-9]{0,9}-$")


class ConfigError(LabError, ValueError):
    """A lab setting the user can fix."""


def check_prefix(prefix: str) -> str:
    if not PREFIX_PATTERN.fullmatch(prefix):
        raise ConfigError(
            f"lab prefix {prefix!r} is invalid: use 1-10 lowercase letters or digits followed by '-'"
            f" (e.g. {DEFAULT_PREFIX!r}); set it with {PREFIX_ENV}"
        )
    return prefix


@dataclass(frozen=True)
class LabConfig:
    prefix: str

    def __post_init__(self) -> None:
        check_prefix(self.prefix)

    @classmethod
    def from_environment(cls, prefix: str | None = None) -> LabConfig:
        return cls(prefix if prefix is not None else os.environ.get(PREFIX_ENV, DEFAULT_PREFIX))

    @property
    def state_root(self) -> Path:
        return STATE_BASE / self.prefix

    def namespace(self, machine: str) -> str:
        """The global network namespace of `machine`."""
        return f"{self.prefix}{machine}"

    def owns_namespace(self, name: str) -> bool:
        return name.startswith(self.prefix)

    def machine_dir(self, machine: str) -> Path:
        return self.state_root / "machines" / machine

    def log_dir(self, machine: str) -> Path:
        return self.state_root / "logs" / machine

    @property
    def lab_file(self) -> Path:
        """The running lab's description (machines' PID 1s, owner), see `lab.record`."""
        return self.state_root / "lab.json"

    @property
    def topology_file(self) -> Path:
        return self.state_root / "topology.json"
