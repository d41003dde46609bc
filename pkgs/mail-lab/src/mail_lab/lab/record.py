"""The record of a running lab: its machines' PID 1s and who owns it.

Written by the world when it comes up, read by `mail-lab status/shell/down/run` (processes other
than the one that built the lab) and by teardown. Keys it does not know are ignored, so a record
written by another version of the lab still lets `mail-lab down` remove that lab.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from mail_lab.lab.paths import LabConfig
from mail_lab.lab.processes import ProcessRef


@dataclass
class LabRecord:
    prefix: str
    # Machine name -> its container's PID 1 (None while the machine is shut down).
    inits: dict[str, ProcessRef | None] = field(default_factory=dict)
    # The `mail-lab up` process that tears the lab down when it ends (None for `up --keep`).
    owner: ProcessRef | None = None
    services: bool = True
    overrides: dict[str, Any] = field(default_factory=dict)
    # The process that builds the lab, and whether it finished: a bring-up killed half-way leaves
    # a record that is not complete and a builder that is gone.
    builder: ProcessRef | None = None
    complete: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "inits": {name: ref.to_json() if ref else None for name, ref in self.inits.items()},
            "owner": self.owner.to_json() if self.owner else None,
            "services": self.services,
            "overrides": self.overrides,
            "builder": self.builder.to_json() if self.builder else None,
            "complete": self.complete,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> LabRecord:
        return cls(
            prefix=data["prefix"],
            # A record without them (written by another version of the lab) still names the
            # prefix: teardown then finds the lab's machines by their names.
            inits={n: ProcessRef.from_json(r) if r else None for n, r in (data.get("inits") or {}).items()},
            owner=ProcessRef.from_json(data["owner"]) if data.get("owner") else None,
            services=bool(data.get("services", True)),
            overrides=dict(data.get("overrides") or {}),
            builder=ProcessRef.from_json(data["builder"]) if data.get("builder") else None,
            complete=bool(data.get("complete", False)),
        )

    def save(self, config: LabConfig) -> None:
        config.state_root.mkdir(parents=True, exist_ok=True)
        temporary = config.lab_file.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.to_json(), indent=1, sort_keys=True))
        temporary.replace(config.lab_file)

    @classmethod
    def load(cls, config: LabConfig) -> LabRecord | None:
        try:
            return cls.from_json(json.loads(config.lab_file.read_text()))
        except FileNotFoundError:
            return None

    def owner_alive(self) -> bool:
        return self.owner is not None and self.owner.alive()

    def coming_up(self) -> bool:
        """Its bring-up has not finished and the process doing it lives."""
        return not self.complete and self.builder is not None and self.builder.alive()
