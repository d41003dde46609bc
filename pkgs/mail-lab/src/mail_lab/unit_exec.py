"""The command line that runs a unit's process the way systemd would, inside a lab machine.

systemd runs a service with NetworkNamespacePath= in that namespace, and with BindReadOnlyPaths=,
BindPaths= or InaccessiblePaths= in a private mount namespace where those mounts are applied.
The lab builds the same with nsenter (into the machine, then into the unit's network namespace),
unshare --mount (slave propagation, as systemd's) and a short mount script that ends with `exec`,
so that the PID the lab records is the daemon's own.
"""

from __future__ import annotations

import pwd
import shlex

from mail_lab.units import Unit

INACCESSIBLE_DIR = "/run/mail-lab-inaccessible"


def machine_prefix(anchor_pid: int) -> list[str]:
    """Enter a machine: its mount, UTS and network namespaces, pinned by its anchor process."""
    return ["nsenter", f"--target={anchor_pid}", "--mount", "--uts", "--net", "--"]


def _bind_entry(entry: str) -> tuple[bool, str, str, bool]:
    """systemd's `[-]source[:destination[:options]]` -> (optional, source, destination, recursive)."""
    optional = entry.startswith("-")
    parts = entry.removeprefix("-").split(":")
    source = parts[0]
    destination = parts[1] if len(parts) > 1 and parts[1] else source
    recursive = not (len(parts) > 2 and parts[2] == "norbind")
    return optional, source, destination, recursive


def mount_script(unit: Unit) -> str:
    """Shell lines applying the unit's bind and inaccessible paths (in its own mount namespace)."""
    lines: list[str] = []
    for entries, read_only in ((unit.bind_paths, False), (unit.bind_read_only_paths, True)):
        for entry in entries:
            optional, source, destination, recursive = _bind_entry(entry)
            src, dst = shlex.quote(source), shlex.quote(destination)
            bind = "--rbind" if recursive else "--bind"
            missing = (
                "continue_" if optional else f"echo '{unit.name}: {source} does not exist' >&2; exit 226"
            )
            apply = f"mount {bind} {src} {dst}" + (f" && mount -o remount,bind,ro {dst}" if read_only else "")
            lines.append(f"if [ -e {src} ] && [ -e {dst} ]; then {apply}; else {missing}; fi")
    for entry in unit.inaccessible_paths:
        optional = entry.startswith("-")
        path = shlex.quote(entry.removeprefix("-"))
        missing = "continue_" if optional else f"echo '{unit.name}: {path} does not exist' >&2; exit 226"
        lines.append(
            f"if [ -d {path} ]; then mount -t tmpfs -o ro,mode=000,size=4k tmpfs {path};"
            f" elif [ -e {path} ]; then mount --bind {INACCESSIBLE_DIR}/file {path};"
            f" else {missing}; fi"
        )
    if unit.inaccessible_paths:
        lines.insert(
            0,
            f"mkdir -p {INACCESSIBLE_DIR} && [ -e {INACCESSIBLE_DIR}/file ] || install -m 000 /dev/null"
            f" {INACCESSIBLE_DIR}/file",
        )
    # `continue_` is a no-op that keeps every if-branch non-empty.
    return "continue_() { :; }\n" + "\n".join(lines) + '\nexec "$@"\n'


def has_mounts(unit: Unit) -> bool:
    return bool(unit.bind_paths or unit.bind_read_only_paths or unit.inaccessible_paths)


def unit_command(anchor_pid: int, unit: Unit, argv: list[str], *, as_user: bool = True) -> list[str]:
    """`argv` as the unit's process: in the machine, the unit's namespaces, as the unit's user."""
    command = machine_prefix(anchor_pid)
    if unit.network_namespace_path:
        command += ["nsenter", f"--net={unit.network_namespace_path}", "--"]
    if has_mounts(unit):
        command += ["unshare", "--mount", "--propagation", "slave", "--"]
        command += ["bash", "-euo", "pipefail", "-c", mount_script(unit), unit.name]
    if as_user and unit.user:
        # The machines share the host's user database: its primary group is the same inside.
        group = pwd.getpwnam(unit.user).pw_gid
        command += ["setpriv", f"--reuid={unit.user}", f"--regid={group}", "--init-groups", "--"]
    return command + argv


def shell_command(anchor_pid: int, unit: Unit, script: str) -> list[str]:
    """A readiness check: a shell command in the unit's namespaces (as root)."""
    return unit_command(anchor_pid, unit, ["bash", "-euo", "pipefail", "-c", script], as_user=False)
