"""Each container's own cgroups (mail_lab.machine.cgroups), on a stand-in cgroup tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from mail_lab.machine import cgroups


@pytest.fixture
def hybrid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The hybrid layout: the named `systemd` hierarchy and the unified one beside it."""
    for name in ("systemd", "unified"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "cgroup.procs").write_text("")
    (tmp_path / "cpu").mkdir()
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", tmp_path)
    return tmp_path


def test_the_hierarchies_are_systemds_only(
    hybrid: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert cgroups.hierarchies() == [hybrid / "systemd", hybrid / "unified"]
    unified = tmp_path / "v2"
    unified.mkdir()
    (unified / "cgroup.controllers").write_text("")
    monkeypatch.setattr(cgroups, "CGROUP_ROOT", unified)
    assert cgroups.hierarchies() == [unified]


def test_a_container_gets_its_own_cgroups_and_nspawn_joins_them_first(hybrid: Path) -> None:
    made = cgroups.make("mlx-home")
    assert made == [hybrid / "systemd/mail-lab/mlx-home", hybrid / "unified/mail-lab/mlx-home"]
    assert all(cgroup.is_dir() for cgroup in made)
    argv = cgroups.joining(made, ["systemd-nspawn", "--boot"])
    assert argv[:2] == ["sh", "-c"]
    assert f"tee {made[0]}/cgroup.procs {made[1]}/cgroup.procs" in argv[2]
    assert argv[2].endswith('exec "$@"') and argv[3:] == ["sh", "systemd-nspawn", "--boot"]
    assert cgroups.joining([], ["systemd-nspawn"]) == ["systemd-nspawn"]


def test_teardown_removes_only_its_prefixs_cgroups_with_what_the_container_made(hybrid: Path) -> None:
    for name in ("mlx-home", "mlx-gateway", "other-home"):
        for cgroup in cgroups.make(name):
            (cgroup / "payload" / "system.slice" / "postfix.service").mkdir(parents=True)
    assert cgroups.remove_all(lambda name: name.startswith("mlx-")) == []
    for hierarchy in ("systemd", "unified"):
        assert sorted(p.name for p in (hybrid / hierarchy / "mail-lab").iterdir()) == ["other-home"]


def test_a_cgroup_left_by_a_crashed_run_is_replaced_empty(hybrid: Path) -> None:
    (hybrid / "systemd/mail-lab/mlx-home/payload/init.scope").mkdir(parents=True)
    made = cgroups.make("mlx-home")
    assert [list(cgroup.iterdir()) for cgroup in made] == [[], []]
