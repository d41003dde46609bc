"""Shared by the container tests: the machines' tree, containers in namespaces of their own.

Needs the machines' root filesystem: the first run on a host builds it (about 70 s with
debootstrap and apt, see benchmarks/README.md), later runs reuse the cached tree.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from lab_support import require_lab, require_nix

from mail_lab.lab.topology import TopologyView, load_topology
from mail_lab.machine import rootfs
from mail_lab.machine.container import Container, ContainerSpec, find_containers, mount_root, remove_state
from mail_lab.net.namespaces import create_namespace, list_namespaces, remove_namespace
from mail_lab.units.plan import plan_services, tree_programs
from mail_lab.units.render import RenderContext, render_services, upstream_units

PREFIX = "nsp-"
STATE = Path("/run/mail-lab-containers-test")
# A unit whose clean stop leaves a file in the machine's layer.
MARKER_UNIT = (
    "systemd-run --unit=marker --remain-after-exit -p ExecStop='/bin/touch /var/lib/stopped-cleanly' true"
)


def require_nspawn() -> None:
    require_lab()
    for program, package in (("systemd-nspawn", "systemd-container"), ("debootstrap", "debootstrap")):
        if shutil.which(program) is None:
            pytest.skip(f"{program} missing (Debian package {package})")


@pytest.fixture(scope="module")
def tree() -> rootfs.Tree:
    require_nspawn()
    return rootfs.ensure_tree()


def _remove_leftovers() -> None:
    for container in find_containers(lambda name: name.startswith(PREFIX)):
        container.kill()
    for name in list_namespaces():
        if name.startswith(PREFIX):
            remove_namespace(name)
    remove_state(STATE)


@pytest.fixture
def spec_of(tree: rootfs.Tree) -> Iterator[dict[str, ContainerSpec]]:
    """Machine name -> spec, each in a fresh namespace of its own; everything removed afterwards."""
    _remove_leftovers()

    class Specs(dict[str, ContainerSpec]):
        def __missing__(self, machine: str) -> ContainerSpec:
            namespace = f"{PREFIX}{machine}"
            create_namespace(namespace)
            self[machine] = ContainerSpec(
                name=namespace,
                hostname=machine,
                tree=tree.root,
                state_dir=STATE / machine,
                network_namespace=namespace,
            )
            return self[machine]

    try:
        yield Specs()
    finally:
        _remove_leftovers()


def booted(spec: ContainerSpec) -> Container:
    container = Container.boot(spec)
    state = container.wait_running()
    assert state == "running", f"{spec.name} is {state}: failed units {container.failed_units()}"
    return container


def inside(container: Container, command: str) -> str:
    return container.run(["bash", "-euo", "pipefail", "-c", command]).stdout


# A daemon definition as a module would give it, under a name the plan confines.
STAND_IN = {"script": "exec sleep infinity", "wantedBy": ["multi-user.target"]}


def install_home_plan(
    spec: ContainerSpec, tree: rootfs.Tree, extra: dict[str, list[dict[str, Any]]] | None = None
) -> ContainerSpec:
    """The home plan's units (and `extra` services) rendered into the machine's layer, before boot."""
    require_nix()
    home_plan = TopologyView(load_topology()).home
    definitions = plan_services("home", tree_programs(tree.root))
    services = {name: [definition] for name, definition in definitions.items()}
    services["postfix"] = [STAND_IN, *services["postfix"]]
    for name, own in (extra or {}).items():
        services[name] = [*own, *services.get(name, [])]
    context = RenderContext(
        upstream_units=upstream_units(tree.root), packages=rootfs.tree_packages(tree.root)
    )
    # Before boot, in the machine's own layer, as NixOS has its units before systemd starts.
    mount_root(spec)
    render_services(services, context).install(spec.root)
    for path, text in home_plan.namespace.data["etc"].items():
        target = spec.root / "etc" / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
    return spec
