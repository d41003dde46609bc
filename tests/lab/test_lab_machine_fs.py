"""A machine's private filesystem, as planned (no root needed)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mail_lab import machine_fs
from mail_lab.config import LabConfig
from mail_lab.machine import Machine, MachineError
from mail_lab.machine_fs import MachineFilesystem

STUB = "/run/systemd/resolve/stub-resolv.conf"


def test_a_resolv_conf_symlink_into_run_is_followed_into_the_machines_own_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda p: STUB if p == "/etc/resolv.conf" else real(p))
    filesystem = MachineFilesystem(tmp_path, {"/etc/postfix": "copy"})
    lines = filesystem.setup_script(Path("/run/mail-lab/mla-"), "mail", tmp_path / "systemctl").splitlines()
    run_tmpfs = next(
        i for i, line in enumerate(lines) if line.startswith("mount -t tmpfs") and line.endswith(" /run")
    )
    create = lines.index(f"mkdir -p {os.path.dirname(STUB)} && touch {STUB}")
    bind = next(i for i, line in enumerate(lines) if line.endswith(f"etc/resolv.conf {STUB}"))
    assert run_tmpfs < create < bind
    assert f"mount --bind {tmp_path}/paths/etc/postfix /etc/postfix" in lines
    assert lines[-1] == "hostname mail"


def test_private_paths_may_not_hide_the_machines_tmpfs(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="tmpfs"):
        MachineFilesystem(tmp_path, {"/run/postfix": "empty"})
    with pytest.raises(ValueError, match="normalized"):
        MachineFilesystem(tmp_path, {"/etc/../etc/postfix": "empty"})


def test_write_file_refuses_paths_the_machine_shares_with_the_host(tmp_path: Path) -> None:
    machine = Machine(LabConfig("mla-"), "home", MachineFilesystem(tmp_path, machine_fs.private_paths()))
    for path in ("/etc/passwd", "/usr/bin/postfix", "etc/postfix/main.cf", "/etc/postfix/../passwd"):
        with pytest.raises(MachineError, match="not one of the machine's private paths"):
            machine.write_file(path, "x")
    assert machine_fs.is_private("/etc/wireguard/wg0.key", machine_fs.private_paths())
    assert machine_fs.is_private("/etc/netns/wg/resolv.conf", machine_fs.private_paths())
