"""The process that pins a machine's private mount and UTS namespaces.

It is started in the machine's network namespace with `unshare --mount --uts` (private
propagation: nothing mounted inside leaks to the host) and only sleeps; every command of the
machine enters its namespaces with `nsenter --target <anchor>`. Its setup script (see
machine_fs) is run once through it right after it starts.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from mail_lab import unit_exec
from mail_lab.commands import run, spawn
from mail_lab.config import LabConfig
from mail_lab.processes import ProcessRef, namespace_inode
from mail_lab.wireguard import MACHINE_NETNS_FILE

if TYPE_CHECKING:
    from mail_lab.machine import Machine

START_TIMEOUT = 10.0
POLL = 0.01
_ANCHORS: list[subprocess.Popen[bytes]] = []


class AnchorError(RuntimeError):
    pass


def start_anchor(
    config: LabConfig, machine: Machine, hostname: str, shim: Path, code_paths: Sequence[Path] = ()
) -> ProcessRef:
    log_dir = config.log_dir(machine.name)
    log_dir.mkdir(parents=True, exist_ok=True)
    with (log_dir / "anchor.log").open("ab") as log:
        process = spawn(
            [
                "nsenter",
                f"--net=/run/netns/{machine.namespace}",
                "--",
                "unshare",
                "--mount",
                "--uts",
                "--propagation",
                "private",
                "--",
                "bash",
                "-c",
                f"exec -a mail-lab-anchor:{machine.namespace} sleep infinity",
            ],
            stdout=log,
            stderr=log,
        )
    _ANCHORS.append(process)
    host_mnt = namespace_inode(os.getpid(), "mnt")
    deadline = time.monotonic() + START_TIMEOUT
    for _ in range(int(START_TIMEOUT / POLL) + 1):
        if process.poll() is not None:
            raise AnchorError(
                f"{machine.name}: anchor exited with {process.returncode}; see {log_dir}/anchor.log"
            )
        if namespace_inode(process.pid, "mnt") != host_mnt and _command_name(process.pid) == "sleep":
            break
        if time.monotonic() > deadline:
            raise AnchorError(f"{machine.name}: anchor did not start within {START_TIMEOUT:.0f} s")
        time.sleep(POLL)
    anchor = ProcessRef.of(process.pid)
    script = machine.filesystem.setup_script(config.state_root, hostname, shim, code_paths)
    # The machine's own network namespace as a file, for NixOS' "init" namespace (wireguard.py).
    script += f"touch {MACHINE_NETNS_FILE} && mount --bind /proc/self/ns/net {MACHINE_NETNS_FILE}\n"
    run([*unit_exec.machine_prefix(anchor.pid), "bash", "-euo", "pipefail", "-c", script], timeout=60)
    return anchor


def _command_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return ""
