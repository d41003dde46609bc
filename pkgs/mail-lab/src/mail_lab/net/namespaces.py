"""Global (host-level) network namespaces, through pyroute2, and the one place their paths are made.

A named namespace is a file under /run/netns (where `ip netns` and pyroute2 keep them). The lab's
own machines live in such namespaces (`<prefix><machine>`), and inside a machine the plans'
namespaces do too (their paths come from the plan, `plan.namespace.path`).
"""

from __future__ import annotations

from pyroute2 import netns  # type: ignore[import-untyped]

# Where `ip netns add` (iproute2's NETNS_RUN_DIR) and pyroute2 bind-mount named namespaces.
NAMESPACE_DIR = "/run/netns"


def namespace_path(name: str) -> str:
    """The file of the named network namespace `name`."""
    return f"{NAMESPACE_DIR}/{name}"


def namespace_name(path: str) -> str:
    """The name of the namespace whose file is `path` (the inverse of `namespace_path`)."""
    return path.removeprefix(f"{NAMESPACE_DIR}/")


def list_namespaces() -> list[str]:
    return sorted(str(name) for name in netns.listnetns())


def create_namespace(name: str) -> None:
    netns.create(name)


def remove_namespace(name: str) -> None:
    netns.remove(name)
