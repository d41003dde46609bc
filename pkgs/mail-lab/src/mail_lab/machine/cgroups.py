"""Each container's own cgroup, so that no two containers share their units' cgroups.

systemd-nspawn puts its container below the cgroup it runs in (`supervisor` for itself, `payload`
for the container's systemd). With no systemd on the host, every nspawn would run in the root
cgroup, every container's systemd would manage the same `/payload`, and two machines' units of
one name (postfix.service, systemd-update-utmp-runlevel.service) would share one cgroup: one
machine's systemd removed it while another's was starting its unit there (219/CGROUP). So each
container's nspawn is started in `mail-lab/<container>` of every cgroup hierarchy systemd uses,
and teardown removes those cgroups.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable
from pathlib import Path

from mail_lab.polling import poll

CGROUP_ROOT = Path("/sys/fs/cgroup")
PARENT = "mail-lab"
# How long the cgroups of ended containers may take to empty (their processes leaving).
EMPTY_WAIT = 5.0


def hierarchies() -> list[Path]:
    """The cgroup hierarchies systemd uses: the unified one alone (cgroup v2), or the named
    `systemd` one and, if mounted, the unified one beside it (the hybrid layout)."""
    if (CGROUP_ROOT / "cgroup.controllers").exists():
        return [CGROUP_ROOT]
    return [
        CGROUP_ROOT / name
        for name in ("systemd", "unified")
        if (CGROUP_ROOT / name / "cgroup.procs").exists()
    ]


def container_cgroups(container: str) -> list[Path]:
    return [hierarchy / PARENT / container for hierarchy in hierarchies()]


def make(container: str) -> list[Path]:
    """The container's cgroups, made empty; what its nspawn joins (see `joining`). None where the
    host does not let the lab make cgroups (then every container runs in the root cgroup)."""
    cgroups = container_cgroups(container)
    try:
        for cgroup in cgroups:
            remove(cgroup)
            cgroup.mkdir(parents=True, exist_ok=True)
    except OSError:
        return []
    return cgroups


def joining(cgroups: list[Path], argv: list[str]) -> list[str]:
    """`argv` run by a shell that first joins `cgroups`, so all it starts is in them from its
    first fork."""
    if not cgroups:
        return argv
    procs = " ".join(shlex.quote(str(cgroup / "cgroup.procs")) for cgroup in cgroups)
    return ["sh", "-c", f'echo $$ | tee {procs} >/dev/null && exec "$@"', "sh", *argv]


def remove(cgroup: Path) -> None:
    """Remove `cgroup` and the cgroups below it (deepest first); they must hold no process."""
    if not cgroup.is_dir():
        return
    for directory, _, _ in sorted(os.walk(cgroup), key=lambda entry: -entry[0].count("/")):
        os.rmdir(directory)


def remove_all(owns: Callable[[str], bool]) -> list[str]:
    """Remove the cgroups of the containers `owns` names; the problems, if any are left."""
    problems = []
    for hierarchy in hierarchies():
        parent = hierarchy / PARENT
        for cgroup in sorted(parent.iterdir()) if parent.is_dir() else []:
            if cgroup.is_dir() and owns(cgroup.name):
                try:
                    remove(cgroup)
                except OSError as error:
                    problems.append(f"cgroup {cgroup}: {error}")
    return problems


def remove_when_empty(owns: Callable[[str], bool]) -> list[str]:
    """`remove_all`, tried again while the cgroups' last processes leave (EMPTY_WAIT at most);
    the problems left."""
    problems: list[str] = []

    def removed() -> bool:
        problems[:] = remove_all(owns)
        return not problems

    poll(removed, EMPTY_WAIT, 0.1)
    return problems
