"""A machine's private filesystem: what it sees differently from the host.

Inside a machine (its own mount namespace), `/run` and `/tmp` are fresh tmpfs, `/sys` shows the
machine's network namespace, and every path of `MACHINE_PRIVATE_PATHS` is a directory of the
machine's state (`/run/mail-lab/<prefix>/machines/<name>/paths/...`) bind-mounted over the
Debian path: "empty" starts empty, "copy" starts as a copy of the host's directory (made once per
lab). `PRIVATE_FILES` (/etc/hosts, /etc/resolv.conf, ...) are single files bound the same way.
The services (mail_lab.services.PRIVATE_PATHS) add their daemons' paths to the table.
`/usr/bin/systemctl` is the lab's shim. The lab's state directory stays visible at its host path,
so the shim reaches the unit manager's files.
"""

from __future__ import annotations

import importlib
import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal

PathKind = Literal["empty", "copy"]

MACHINE_PRIVATE_PATHS: dict[str, PathKind] = {
    # `ip netns exec` reads /etc/netns/<name>/; the home plan's files for `wg` go here.
    "/etc/netns": "empty",
    "/etc/wireguard": "empty",
    "/var/tmp": "empty",
    # The gateway's saved WireGuard endpoints (lib/gateway.nix, endpointMemory).
    "/var/lib/home-mail": "empty",
    # The plan the doctor reads (lib/doctor.nix: /etc/home-mail/plan.json).
    "/etc/home-mail": "empty",
}
PRIVATE_FILES = ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname", "/etc/mailname")
TMPFS_PATHS = ("/run", "/tmp")
SYSTEMCTL_PATHS = ("/usr/bin/systemctl", "/bin/systemctl")
# In the machine's own /run; commands the lab runs have it first on PATH (see commands.py).
SHIM_DIR = "/run/mail-lab-bin"


def private_paths() -> dict[str, PathKind]:
    """The lab's table, extended by the services' one when that module is present."""
    table = dict(MACHINE_PRIVATE_PATHS)
    try:
        services = importlib.import_module("mail_lab.services")
    except ImportError:
        return table
    extra: Mapping[str, str] = getattr(services, "PRIVATE_PATHS", {})
    for path, kind in extra.items():
        if kind not in ("empty", "copy"):
            raise ValueError(f"mail_lab.services.PRIVATE_PATHS[{path!r}]: {kind!r} is not 'empty' or 'copy'")
        table[path] = "copy" if kind == "copy" else "empty"
    return table


def _check_path(path: str) -> None:
    if not path.startswith("/") or os.path.normpath(path) != path or path == "/":
        raise ValueError(f"private path {path!r} must be an absolute, normalized path")
    if any(path == t or path.startswith(t + "/") for t in TMPFS_PATHS) or path.startswith("/var/run"):
        raise ValueError(f"private path {path!r} is under a tmpfs the machine already has privately")


def is_private(path: str, table: Mapping[str, str]) -> bool:
    """Whether `path` (as seen inside a machine) belongs to the machine alone."""
    path = os.path.normpath(path)
    roots = [*table, *TMPFS_PATHS, "/var/run"]
    return path in PRIVATE_FILES or any(path == root or path.startswith(root + "/") for root in roots)


class MachineFilesystem:
    def __init__(self, machine_dir: Path, table: Mapping[str, PathKind]):
        self.machine_dir = machine_dir
        self.table = dict(table)
        for path in self.table:
            _check_path(path)

    @property
    def paths_dir(self) -> Path:
        return self.machine_dir / "paths"

    def source(self, path: str) -> Path:
        """The host directory or file that appears at `path` inside the machine."""
        return self.paths_dir / path.lstrip("/")

    def prepare(self, files: Mapping[str, str]) -> None:
        """Create the state directories (copying "copy" ones once) and the private files."""
        for path, kind in sorted(self.table.items()):
            source = self.source(path)
            if source.exists():
                continue
            host = Path(path)
            if kind == "copy" and host.is_dir():
                source.parent.mkdir(parents=True, exist_ok=True)
                # cp -a keeps owners, modes and symlinks (e.g. /etc/ssl/certs) exactly.
                subprocess.run(["cp", "-a", "--", str(host), str(source)], check=True, timeout=120)
            else:
                source.mkdir(parents=True)
                if host.is_dir():
                    status = host.stat()
                    os.chown(source, status.st_uid, status.st_gid)
                    source.chmod(status.st_mode & 0o7777)
            self._ensure_mountpoint(host, directory=True)
        for path in PRIVATE_FILES:
            source = self.source(path)
            source.parent.mkdir(parents=True, exist_ok=True)
            source.write_text(files.get(path, ""))
            source.chmod(0o644)

    @staticmethod
    def _ensure_mountpoint(host: Path, directory: bool) -> None:
        """A bind mount needs its target: create a missing one (empty) on the host."""
        if host.exists():
            return
        host.parent.mkdir(parents=True, exist_ok=True)
        if directory:
            host.mkdir(mode=0o755)
        else:
            host.touch(mode=0o644)

    def setup_script(
        self, state_root: Path, hostname: str, shim: Path, code_paths: Sequence[Path] = ()
    ) -> str:
        """Shell run once inside the new machine (in its namespaces) to build its filesystem.

        `state_root` (under /run) and the `code_paths` the lab runs programs from (its package,
        its venv, a checkout under /tmp) stay visible through the fresh tmpfs: the state read-write,
        the code read-only.
        """
        q = shlex.quote
        kept = [(state_root, False)] + [
            (path, True) for path in _under_tmpfs(code_paths) if not _is_within(path, state_root)
        ]
        lines = ["mount -t sysfs -o nosuid,nodev,noexec sysfs /sys"]
        # Keep a handle on each kept path, then rebind it over the new tmpfs.
        lines += [f"exec {fd}<{q(str(path))}" for fd, (path, _) in enumerate(kept, start=3)]
        lines += [
            f"mount -t tmpfs -o mode={'1777' if t == '/tmp' else '0755'},nosuid,nodev tmpfs {t}"
            for t in TMPFS_PATHS
        ]
        for fd, (kept_path, read_only) in enumerate(kept, start=3):
            kept_target = q(str(kept_path))
            # --no-canonicalize: mount(8) would otherwise turn the fd back into a path, now hidden.
            lines += [
                f"mkdir -p {kept_target}",
                f"mount --no-canonicalize --bind /proc/self/fd/{fd} {kept_target}",
            ]
            if read_only:
                lines.append(f"mount -o remount,bind,ro {kept_target}")
            lines.append(f"exec {fd}<&-")
        lines.append("mkdir -p /run/netns /run/lock /run/user")
        # Parents before children (e.g. /etc/rspamd before /etc/rspamd/local.d).
        for path in sorted(self.table, key=lambda p: (p.count("/"), p)):
            lines.append(f"mount --bind {q(str(self.source(path)))} {q(path)}")
        for path in PRIVATE_FILES:
            target = os.path.realpath(path)
            in_tmpfs = any(target.startswith(t + "/") for t in TMPFS_PATHS)
            if not in_tmpfs and not os.path.exists(target):
                # Never create files on the host; a daemon that needs it is configured explicitly.
                continue
            if in_tmpfs:
                # e.g. /etc/resolv.conf -> /run/systemd/resolve/stub-resolv.conf: the link now
                # points into the machine's own /run, where the file is created.
                lines.append(f"mkdir -p {q(os.path.dirname(target))} && touch {q(target)}")
            lines.append(f"mount --bind {q(str(self.source(path)))} {q(target)}")
        # Also first on the lab's PATH, for hosts without systemd (nothing to bind over there).
        lines.append(f"mkdir -p {SHIM_DIR} && cp {q(str(shim))} {SHIM_DIR}/systemctl")
        for real in sorted({os.path.realpath(p) for p in SYSTEMCTL_PATHS if os.path.exists(p)}):
            lines.append(f"mount --bind {q(str(shim))} {q(real)}")
        lines.append(f"hostname {q(hostname)}")
        return "\n".join(lines) + "\n"


def _is_within(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def _under_tmpfs(paths: Sequence[Path]) -> list[Path]:
    """The outermost of `paths` that a machine's fresh /run or /tmp would hide."""
    hidden = sorted(
        {
            Path(os.path.realpath(p))
            for p in paths
            if any(_is_within(Path(os.path.realpath(p)), Path(t)) for t in TMPFS_PATHS)
        }
    )
    return [p for p in hidden if not any(other != p and _is_within(p, other) for other in hidden)]


def shim_script(python: str, package_parent: Path, prefix: str, machine: str) -> str:
    """The `systemctl` a machine sees: the lab's shim, bound to this lab and machine."""
    return (
        "#!/bin/sh\n"
        "# mail-lab: systemctl inside a lab machine talks to the lab's unit manager.\n"
        f"PYTHONPATH={shlex.quote(str(package_parent))} exec {shlex.quote(python)} -m mail_lab.shim "
        f'--prefix {shlex.quote(prefix)} --machine {shlex.quote(machine)} "$@"\n'
    )
