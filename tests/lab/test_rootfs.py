"""The machines' root filesystem cache (mail_lab.machine.rootfs): what makes a tree stale, what is built."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from mail_lab.machine import rootfs


def test_package_list_reads_names_without_comments(tmp_path: Path) -> None:
    listing = tmp_path / "packages.txt"
    listing.write_text("# header\npostfix  # the MTA\n\n  knot \n")
    assert rootfs.read_package_list(listing) == ["postfix", "knot"]


def test_the_shipped_list_has_what_a_machine_boots_and_runs() -> None:
    packages = rootfs.read_package_list()
    for needed in (*rootfs.BASE_PACKAGES, "postfix", "dovecot-core", "rspamd", "wireguard-go", "nftables"):
        assert needed in packages


def test_a_changed_package_list_is_another_tree() -> None:
    base = rootfs.TreeSpec(("systemd", "postfix"))
    assert rootfs.TreeSpec(("postfix", "systemd", "postfix")).key == base.key  # order, repeats
    assert rootfs.TreeSpec(("systemd", "postfix", "curl")).key != base.key
    assert rootfs.TreeSpec(("systemd", "postfix"), suite="trixie").key != base.key


def test_only_a_tree_with_its_manifest_is_built(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(rootfs.CACHE_ENV, str(tmp_path))
    spec = rootfs.TreeSpec(("systemd",))
    (tmp_path / spec.key / "tree").mkdir(parents=True)
    assert rootfs.cached_tree(spec) is None  # an interrupted build
    manifest = {"key": spec.key, "packages": ["systemd"], "build_seconds": 61.5}
    (tmp_path / spec.key / rootfs.MANIFEST).write_text(json.dumps(manifest))
    tree = rootfs.cached_tree(spec)
    assert tree is not None and tree.root == tmp_path / spec.key / "tree" and tree.build_seconds == 61.5
    # Cached: ensure_tree returns it without building (no debootstrap is run).
    assert rootfs.ensure_tree(spec, progress=pytest.fail) == tree
