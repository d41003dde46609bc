"""Global (host-level) network namespaces, through pyroute2."""

from __future__ import annotations

from pyroute2 import netns  # type: ignore[import-untyped]


def list_namespaces() -> list[str]:
    return sorted(str(name) for name in netns.listnetns())


def create_namespace(name: str) -> None:
    netns.create(name)


def remove_namespace(name: str) -> None:
    netns.remove(name)
