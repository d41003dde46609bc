"""systemd's semantics for the units of one lab machine, as far as the plans use them.

- start: pulls in Requires=/Wants=/BindsTo= transitively and starts in After= order; a unit whose
  Requires=/BindsTo= dependency did not start fails with result "dependency".
- stop and restart propagate to the units that BindsTo=/Requires=/PartOf= a stopped unit
  (restart restarts those of them that were active).
- a simple unit's main process that dies makes the unit failed; an active unit bound (BindsTo=)
  to a unit that is no longer active is stopped. The lab has no resident supervisor: these rules
  are applied whenever the units are looked at or changed ("reconcile").
- oneshot units run their ExecStart= commands in order; RemainAfterExit= keeps them active.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
import time
from collections.abc import Iterable
from pathlib import Path

from mail_lab import unit_exec
from mail_lab.commands import environment, spawn
from mail_lab.processes import ProcessRef, reap
from mail_lab.unit_store import LOCK_HELD_ENV, UnitState, UnitStore
from mail_lab.units import Unit, unit_name

COMMAND_TIMEOUT = 120.0
STOP_TIMEOUT = 10.0
READY_POLL = 0.1
LOG_TAIL_LINES = 8
# Popen objects of the main processes this process started: kept so Python does not warn about
# (or forget to reap) a child that outlives its object.
_CHILDREN: list[subprocess.Popen[bytes]] = []


class UnitError(RuntimeError):
    """A unit operation failed; the message names the machine, the units and their last log lines."""


class UnitNotFoundError(UnitError):
    pass


def _is_virtual(name: str) -> bool:
    """Targets (multi-user.target, network.target) are synchronization points the lab treats as reached."""
    return name.endswith(".target")


class UnitManager:
    def __init__(self, machine: str, store: UnitStore, log_dir: Path, anchor: ProcessRef):
        self.machine = machine
        self.store = store
        self.log_dir = log_dir
        self.anchor = anchor

    # --- definitions -------------------------------------------------------------------------

    def register(self, units: Iterable[Unit]) -> None:
        """Replace the machine's unit definitions (before anything was started)."""
        units = list(units)
        names = [u.name for u in units]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise UnitError(f"{self.machine}: units defined twice: {', '.join(duplicates)}")
        with self.store.locked():
            self.store.save_definitions(units)
            self.store.reset_states()
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def add(self, units: Iterable[Unit]) -> None:
        """Define more units beside the existing ones (e.g. a test's own services)."""
        units = list(units)
        with self.store.locked():
            existing = self.units()
            clashes = sorted(u.name for u in units if u.name in existing)
            if clashes:
                raise UnitError(f"{self.machine}: units already defined: {', '.join(clashes)}")
            self.store.add_definitions(list(units))
        self.log_dir.mkdir(parents=True, exist_ok=True)

    def units(self) -> dict[str, Unit]:
        return self.store.definitions() if self.store.exists() else {}

    def unit(self, name: str) -> Unit:
        found = self.units().get(unit_name(name))
        if found is None:
            raise UnitNotFoundError(f"Unit {unit_name(name)} not found on {self.machine}.")
        return found

    # --- state views ---------------------------------------------------------------------------

    def state(self, name: str) -> UnitState:
        """The unit's state as systemd would report it now (a dead main process means failed)."""
        state = self.store.load_state(unit_name(name))
        if state.active_state in ("active", "activating") and state.main and not state.main.alive():
            state.active_state, state.sub_state, state.result = "failed", "failed", "exit-code"
        return state

    def is_active(self, name: str) -> bool:
        return self.state(name).active_state == "active"

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{unit_name(name)}.log"

    def log_tail(self, name: str, lines: int = LOG_TAIL_LINES) -> str:
        try:
            text = self.log_path(name).read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.rstrip("\n").splitlines()[-lines:])

    # --- operations ----------------------------------------------------------------------------

    def start(self, *names: str) -> None:
        with self.store.locked():
            self._check_machine()
            self.reconcile()
            self._start(self._known(names))

    def start_all(self) -> None:
        """What reaching multi-user.target does: start every unit."""
        with self.store.locked():
            self._check_machine()
            self.reconcile()
            self._start([name for name, unit in self.units().items() if unit.start_at_boot])

    def stop(self, *names: str) -> None:
        with self.store.locked():
            self.reconcile()
            self._stop(self._dependents([unit_name(n) for n in self._known(names)]))

    def stop_all(self) -> None:
        with self.store.locked():
            self.reconcile()
            self._stop(list(self.units()))

    def restart(self, *names: str, only_active: bool = False) -> None:
        """systemctl restart (or try-restart with `only_active`), propagated to dependents."""
        with self.store.locked():
            self._check_machine()
            self.reconcile()
            targets = self._known(names)
            if only_active:
                targets = [n for n in targets if self.is_active(n)]
            dependents = [n for n in self._dependents(targets) if n not in targets and self.is_active(n)]
            self._stop([*targets, *dependents])
            self._start([*targets, *dependents])

    def reset_failed(self, *names: str) -> None:
        with self.store.locked():
            for name in self._known(names) if names else list(self.units()):
                state = self.state(name)
                if state.active_state == "failed":
                    self._save(name, UnitState(starts=state.starts))

    def kill(self, name: str, signum: int = signal.SIGTERM) -> None:
        state = self.state(self._known([name])[0])
        if state.main:
            state.main.signal(signum)

    def reconcile(self) -> None:
        """Record dead main processes as failed; stop active units bound to an inactive unit."""
        units = self.units()
        for name in units:
            stored = self.store.load_state(name)
            current = self.state(name)
            if current.active_state != stored.active_state:
                if stored.main:
                    reap(stored.main.pid)
                self._append_log(name, f"main process {stored.main.pid if stored.main else '?'} exited")
                self._save(name, current)
        for _ in range(len(units) + 1):
            broken = [
                unit.name
                for unit in units.values()
                if self.is_active(unit.name)
                and any(not _is_virtual(d) and not self.is_active(d) for d in unit.binds_to)
            ]
            if not broken:
                return
            for name in broken:
                self._append_log(name, "stopping: a unit it is bound to (BindsTo=) is no longer active")
            self._stop(self._dependents(broken))

    # --- internals ---------------------------------------------------------------------------

    def _check_machine(self) -> None:
        if not self.anchor.alive():
            raise UnitError(f"machine {self.machine} is not running (its anchor process is gone)")

    def _known(self, names: Iterable[str]) -> list[str]:
        units = self.units()
        result = []
        for name in names:
            full = unit_name(name)
            if full not in units:
                raise UnitNotFoundError(f"Unit {full} not found on {self.machine}.")
            result.append(full)
        return result

    def _save(self, name: str, state: UnitState) -> None:
        self.store.save_state(name, state)

    def _ordered(self, names: Iterable[str]) -> list[str]:
        """`names` in After= order (Kahn's algorithm, stable in the given order)."""
        units = self.units()
        pending = list(dict.fromkeys(names))
        ordered: list[str] = []
        for _ in range(len(pending) + 1):
            if not pending:
                return ordered
            ready = [
                n for n in pending if not any(a in pending and a != n for a in units[n].after if a in units)
            ]
            if not ready:
                raise UnitError(f"{self.machine}: ordering cycle among {', '.join(pending)}")
            ordered += ready
            pending = [n for n in pending if n not in ready]
        return ordered

    def _closure(self, names: list[str]) -> list[str]:
        """`names` plus everything they pull in (Requires=, Wants=, BindsTo=), transitively."""
        units = self.units()
        closure: list[str] = []
        queue = list(names)
        for _ in range(len(units) * 4 + len(queue) + 1):
            if not queue:
                break
            name = queue.pop(0)
            if name in closure or name not in units:
                continue
            closure.append(name)
            queue += units[name].pulls_in
        return closure

    def _dependents(self, names: list[str]) -> list[str]:
        """`names` plus the units that BindsTo=/Requires=/PartOf= any of them, transitively."""
        units = self.units()
        result = list(names)
        for _ in range(len(units) + 1):
            added = [u.name for u in units.values() if u.name not in result and u.dependencies & set(result)]
            if not added:
                break
            result += added
        return result

    def _start(self, names: list[str]) -> None:
        units = self.units()
        started: set[str] = set()
        failures: list[str] = []
        for name in self._ordered(self._closure(names)):
            unit = units[name]
            if self.is_active(name):
                started.add(name)
                continue
            missing = [
                d
                for d in [*unit.requires, *unit.binds_to]
                if not _is_virtual(d) and d not in started and not self.is_active(d)
            ]
            if missing:
                self._append_log(name, f"dependency failed: {', '.join(missing)}")
                state = self.state(name)
                state.result = "dependency"
                self._save(name, state)
                if name in names:
                    failures.append(f"{name}: dependency failed ({', '.join(missing)})")
                continue
            error = self._start_one(unit)
            if error is None:
                started.add(name)
            elif name in names or any(name in units[n].requires + units[n].binds_to for n in names):
                failures.append(error)
            else:
                self._append_log(name, f"(wanted unit failed) {error}")
        if failures:
            raise UnitError(f"{self.machine}: " + "\n".join(failures))

    def _command_env(self, unit: Unit, main: ProcessRef | None = None) -> dict[str, str]:
        extra = {**unit.environment, LOCK_HELD_ENV: str(self.store.directory)}
        if main:
            extra["MAINPID"] = str(main.pid)
        return environment(extra)

    def _run(self, unit: Unit, argv: list[str], main: ProcessRef | None = None) -> str | None:
        """Run one Exec* command to completion; None on success, else the reason."""
        ignore_failure = argv[0].startswith("-")
        argv = [argv[0].removeprefix("-"), *argv[1:]]
        self._append_log(unit.name, f"+ {' '.join(argv)}")
        with self.log_path(unit.name).open("ab") as log:
            try:
                result = subprocess.run(
                    unit_exec.unit_command(self.anchor.pid, unit, argv),
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=self._command_env(unit, main),
                    timeout=COMMAND_TIMEOUT,
                    cwd="/",
                    check=False,
                )
                code = result.returncode
            except subprocess.TimeoutExpired:
                code = 124
        if code == 0 or ignore_failure:
            return None
        return f"`{' '.join(argv)}` exited with {code}"

    def _fail(self, unit: Unit, state: UnitState, reason: str, result: str = "exit-code") -> str:
        if state.main:
            state.main.terminate(STOP_TIMEOUT)
        state.active_state, state.sub_state, state.result, state.main = "failed", "failed", result, None
        self._save(unit.name, state)
        self._append_log(unit.name, f"failed: {reason}")
        tail = self.log_tail(unit.name)
        # "Address already in use" (C's strerror) or "address already in use" (Go).
        in_use = next((line.strip() for line in tail.splitlines() if "already in use" in line.lower()), None)
        first = f"{unit.name} failed: {reason}"
        if in_use:
            first = f"{unit.name} failed (port in use): {reason}: {in_use}"
        return f"{first}\n{tail}"

    def _start_one(self, unit: Unit) -> str | None:
        state = self.state(unit.name)
        state = UnitState(active_state="activating", sub_state="start", starts=state.starts + 1)
        self._save(unit.name, state)
        self._append_log(unit.name, f"starting {unit.name}")
        for command in unit.exec_start_pre:
            error = self._run(unit, command)
            if error:
                return self._fail(unit, state, error)
        if unit.type == "oneshot":
            for command in unit.exec_start:
                error = self._run(unit, command)
                if error:
                    return self._fail(unit, state, error)
        else:
            state.main = self._spawn(unit)
            self._save(unit.name, state)
            error = self._wait_ready(unit, state.main)
            if error:
                return self._fail(unit, state, error, "timeout" if "not ready" in error else "exit-code")
        for command in unit.exec_start_post:
            error = self._run(unit, command, state.main)
            if error:
                return self._fail(unit, state, error)
        if unit.type == "oneshot" and not unit.remain_after_exit:
            state.active_state, state.sub_state = "inactive", "dead"
        else:
            state.active_state = "active"
            state.sub_state = "running" if unit.type == "simple" else "exited"
        self._save(unit.name, state)
        self._append_log(unit.name, f"started {unit.name}")
        return None

    def _spawn(self, unit: Unit) -> ProcessRef:
        command = unit.exec_start[0]
        self._append_log(unit.name, f"+ {' '.join(command)}")
        with self.log_path(unit.name).open("ab") as log:
            # Its own session (spawn): stopping the unit can signal its whole process group.
            process = spawn(
                unit_exec.unit_command(self.anchor.pid, unit, command),
                stdout=log,
                stderr=subprocess.STDOUT,
                env=unit.environment,
            )
        _CHILDREN.append(process)
        return ProcessRef.of(process.pid)

    def _wait_ready(self, unit: Unit, main: ProcessRef) -> str | None:
        deadline = time.monotonic() + unit.ready_timeout
        for _ in range(int(unit.ready_timeout / READY_POLL) + 1):
            if not main.alive():
                return f"main process {main.pid} exited"
            if unit.ready is None:
                return None
            remaining = max(1.0, deadline - time.monotonic())
            try:
                check = subprocess.run(
                    unit_exec.shell_command(self.anchor.pid, unit, unit.ready),
                    capture_output=True,
                    env=environment(unit.environment),
                    timeout=min(10.0, remaining),
                    cwd="/",
                    check=False,
                )
                if check.returncode == 0:
                    return None if main.alive() else f"main process {main.pid} exited"
            except subprocess.TimeoutExpired:
                pass
            if time.monotonic() > deadline:
                break
            time.sleep(READY_POLL)
        return f"not ready within {unit.ready_timeout:.0f} s (`{unit.ready}`)"

    def _stop(self, names: list[str]) -> None:
        units = self.units()
        for name in reversed(self._ordered(names)):
            self._stop_one(units[name])

    def _stop_one(self, unit: Unit) -> None:
        # The stored state, not the view: a main process that exited while its units were being
        # stopped (wireguard-go once its TUN is deleted) is part of the stop, not a failure.
        state = self.store.load_state(unit.name)
        if state.active_state in ("inactive", "failed"):
            if state.main:
                state.main.terminate(STOP_TIMEOUT)
            return
        main = state.main
        state.active_state, state.sub_state = "deactivating", "stop"
        self._save(unit.name, state)
        self._append_log(unit.name, f"stopping {unit.name}")
        errors = [error for command in unit.exec_stop if (error := self._run(unit, command, main))]
        if main:
            main.terminate(STOP_TIMEOUT)
            reap(main.pid)
        errors += [error for command in unit.exec_stop_post if (error := self._run(unit, command, None))]
        failed = bool(errors)
        state.active_state = "failed" if failed else "inactive"
        state.sub_state = "failed" if failed else "dead"
        state.result = "exit-code" if failed else "success"
        state.main = None
        self._save(unit.name, state)
        self._append_log(unit.name, f"stopped {unit.name}" + (f" ({'; '.join(errors)})" if errors else ""))

    def _append_log(self, name: str, line: str) -> None:
        with contextlib.suppress(OSError):
            self.log_dir.mkdir(parents=True, exist_ok=True)
            with self.log_path(name).open("a") as log:
                log.write(f"[mail-lab {time.strftime('%H:%M:%S')}] {line}\n")
