"""Every .nix file in the repository parses (nix-instantiate --parse)."""

from __future__ import annotations

from pathlib import Path

import pytest
from nixeval import REPO, needs_nix, parse_error

SKIPPED_DIRECTORIES = {".git", ".venv", "node_modules", "result"}


def nix_files() -> list[Path]:
    return sorted(
        path
        for path in REPO.rglob("*.nix")
        if not SKIPPED_DIRECTORIES.intersection(path.relative_to(REPO).parts)
    )


pytestmark = needs_nix


def test_the_core_files_are_found() -> None:
    found = {path.relative_to(REPO).as_posix() for path in nix_files()}
    assert {"lib/default.nix", "lib/ip.nix", "tests/topology.nix"} <= found


@pytest.mark.parametrize("path", nix_files(), ids=lambda path: path.relative_to(REPO).as_posix())
def test_nix_file_parses(path: Path) -> None:
    assert parse_error(path) is None, parse_error(path)


def test_a_broken_file_is_reported(tmp_path: Path) -> None:
    broken = tmp_path / "broken.nix"
    broken.write_text("{ a = 1; b = ; }\n")
    error = parse_error(broken)
    assert error is not None
    assert "syntax error" in error
