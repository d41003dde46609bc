"""The suite runs as two serial streams side by side (`bootstrap.py test`: pytest-xdist, two
workers, `--dist loadgroup`): the lab's tests, which mostly wait on daemons and share one lab and
its fixed prefixes, and everything else, which mostly computes (Nix evaluations, mutations, linters)
and shares the throwaway namespaces' prefix. Within a stream the order stays as collected."""

from __future__ import annotations

from pathlib import Path

import pytest

LAB_TESTS = Path(__file__).parent / "lab"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        stream = "lab" if LAB_TESTS in item.path.parents else "computing"
        item.add_marker(pytest.mark.xdist_group(stream))
