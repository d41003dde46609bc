"""Where a machine's units and their runtime state live, so every lab process sees the same.

`mail-lab up`, a later `mail-lab status`, and the `systemctl` shim inside a machine are different
processes: definitions and states are JSON files under `/run/mail-lab/<prefix>/units/<machine>/`,
and changes happen under a lock file (flock), bounded in time.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mail_lab.processes import ProcessRef
from mail_lab.units import Unit

LOCK_TIMEOUT = 600.0
LOCK_POLL = 0.05
# Set in the environment of the commands a unit operation runs: a `systemctl` they call must not
# wait for the lock their own operation holds.
LOCK_HELD_ENV = "MAIL_LAB_UNIT_LOCK_HELD"


class LockTimeoutError(RuntimeError):
    pass


@dataclass
class UnitState:
    active_state: str = "inactive"  # active | activating | deactivating | inactive | failed
    sub_state: str = "dead"  # running | exited | start | stop | dead | failed
    result: str = "success"  # success | exit-code | signal | timeout | dependency | resources
    main: ProcessRef | None = None
    exec_main_status: int = 0
    changed_at: float = 0.0
    starts: int = 0

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["main"] = self.main.to_json() if self.main else None
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> UnitState:
        known = {f.name for f in dataclasses.fields(cls)}
        values = {key: value for key, value in data.items() if key in known}
        values["main"] = ProcessRef.from_json(data["main"]) if data.get("main") else None
        return cls(**values)


def _write_json(path: Path, data: Any) -> None:
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps(data, indent=1, sort_keys=True))
    temporary.replace(path)


def _file_name(unit: str) -> str:
    # Unit names are safe file names except for "/" (never used by the lab) and a leading dot.
    return unit.replace("/", "\\x2f") + ".json"


class UnitStore:
    def __init__(self, directory: Path):
        self.directory = directory
        self._lock_depth = 0
        self._lock_file: int | None = None

    @property
    def definitions_dir(self) -> Path:
        return self.directory / "definitions"

    @property
    def states_dir(self) -> Path:
        return self.directory / "states"

    def create(self) -> None:
        self.definitions_dir.mkdir(parents=True, exist_ok=True)
        self.states_dir.mkdir(parents=True, exist_ok=True)

    def exists(self) -> bool:
        return self.definitions_dir.is_dir()

    def save_definitions(self, units: list[Unit]) -> None:
        self.create()
        for old in self.definitions_dir.glob("*.json"):
            old.unlink()
        for unit in units:
            _write_json(self.definitions_dir / _file_name(unit.name), unit.to_json())

    def add_definitions(self, units: list[Unit]) -> None:
        self.create()
        for unit in units:
            _write_json(self.definitions_dir / _file_name(unit.name), unit.to_json())

    def reset_states(self) -> None:
        """Forget every runtime state (a freshly booted machine)."""
        for old in self.states_dir.glob("*.json"):
            old.unlink()

    def definitions(self) -> dict[str, Unit]:
        units = [
            Unit.from_json(json.loads(p.read_text())) for p in sorted(self.definitions_dir.glob("*.json"))
        ]
        return {unit.name: unit for unit in units}

    def load_state(self, unit: str) -> UnitState:
        path = self.states_dir / _file_name(unit)
        try:
            return UnitState.from_json(json.loads(path.read_text()))
        except FileNotFoundError:
            return UnitState()

    def save_state(self, unit: str, state: UnitState) -> None:
        state.changed_at = time.time()
        self.states_dir.mkdir(parents=True, exist_ok=True)
        _write_json(self.states_dir / _file_name(unit), state.to_json())

    def all_states(self) -> dict[str, UnitState]:
        return {name: self.load_state(name) for name in self.definitions()}

    def busy(self) -> bool:
        """Whether a unit operation (a job, in systemd's words) is running on this machine now."""
        try:
            descriptor = os.open(self.directory / ".lock", os.O_RDWR)
        except FileNotFoundError:
            return False
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(descriptor)
        return False

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the machine's unit lock (reentrant within this process; bounded wait)."""
        if os.environ.get(LOCK_HELD_ENV) == str(self.directory) or self._lock_depth > 0:
            self._lock_depth += 1
            try:
                yield
            finally:
                self._lock_depth -= 1
            return
        self.directory.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            for _ in range(int(LOCK_TIMEOUT / LOCK_POLL) + 1):
                try:
                    fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(LOCK_POLL)
            else:
                raise LockTimeoutError(f"{self.directory}: unit lock still held after {LOCK_TIMEOUT:.0f} s")
            self._lock_depth = 1
            try:
                yield
            finally:
                self._lock_depth = 0
        finally:
            os.close(descriptor)
