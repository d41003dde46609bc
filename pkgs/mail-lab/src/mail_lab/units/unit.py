"""A lab unit: how the lab describes a daemon's service (mail_lab.units.definitions renders it as
the NixOS definition its module would write).

The names mirror systemd's settings (`exec_start` = ExecStart=, `binds_to` = BindsTo=, ...).
Every command is an argument list; a program name starting with "-" means, as in systemd, that
the command's failure is ignored. `ready` stands in for sd_notify: a shell command polled until it
exits 0, for at most `ready_timeout` seconds (rendered as the unit's postStart).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

UnitType = Literal["simple", "oneshot"]
DEPENDENCY_FIELDS = ("after", "wants", "requires", "binds_to", "part_of")
COMMAND_FIELDS = ("exec_start_pre", "exec_start", "exec_start_post", "exec_stop", "exec_stop_post")
PATH_FIELDS = ("bind_read_only_paths", "bind_paths", "inaccessible_paths")
UNIT_SUFFIXES = (".service", ".target", ".socket", ".timer", ".mount", ".path", ".slice", ".scope")


def unit_name(name: str) -> str:
    """`postfix` -> `postfix.service` (systemctl's rule for names without a type suffix)."""
    return name if name.endswith(UNIT_SUFFIXES) else f"{name}.service"


@dataclass
class Unit:
    name: str
    type: UnitType = "simple"
    exec_start: list[list[str]] = field(default_factory=list)
    exec_start_pre: list[list[str]] = field(default_factory=list)
    exec_start_post: list[list[str]] = field(default_factory=list)
    exec_stop: list[list[str]] = field(default_factory=list)
    # Run after the main process is gone (NixOS' postStop).
    exec_stop_post: list[list[str]] = field(default_factory=list)
    ready: str | None = None
    ready_timeout: float = 30.0
    after: list[str] = field(default_factory=list)
    wants: list[str] = field(default_factory=list)
    requires: list[str] = field(default_factory=list)
    binds_to: list[str] = field(default_factory=list)
    part_of: list[str] = field(default_factory=list)
    network_namespace_path: str | None = None
    bind_read_only_paths: list[str] = field(default_factory=list)
    bind_paths: list[str] = field(default_factory=list)
    inaccessible_paths: list[str] = field(default_factory=list)
    environment: dict[str, str] = field(default_factory=dict)
    user: str | None = None
    remain_after_exit: bool = False
    # Exit codes of the main process that count as a clean end (SuccessExitStatus=).
    success_exit_status: list[int] = field(default_factory=list)
    # False for units NixOS starts from a timer (the lab has no timers): not wanted at boot.
    start_at_boot: bool = True
    description: str = ""

    def __post_init__(self) -> None:
        self.name = unit_name(self.name)
        for dependency_field in DEPENDENCY_FIELDS:
            setattr(self, dependency_field, [unit_name(n) for n in getattr(self, dependency_field)])
        self.validate()

    def validate(self) -> None:
        if self.type not in ("simple", "oneshot"):
            raise ValueError(f"{self.name}: type {self.type!r} is not supported (simple, oneshot)")
        if self.type == "simple" and len(self.exec_start) != 1:
            raise ValueError(f"{self.name}: a simple unit needs exactly one ExecStart command")
        for command_field in COMMAND_FIELDS:
            for command in getattr(self, command_field):
                if not command or not all(isinstance(arg, str) for arg in command):
                    raise ValueError(f"{self.name}: {command_field} has an invalid command {command!r}")
