"""What a container machine of the world boots with: its units as files, and the lab's programs.

The lab's daemon units (mail_lab.services, mail_lab.net.wireguard) become NixOS definitions
(mail_lab.units.definitions), the machine's plan `units` are rendered by `lib.renderUnit`
(mail_lab.units.plan); both are merged by the one renderer (mail_lab.units.render), as the
module system merges a module's `systemd.services.<name>` with the plan's fragment, and written
to the machine's /etc/systemd/system.

The lab's own programs (the mail test agent, the doctor) run with the host's Python, which the
machine sees read-only at its host path (`code_binds`), as `python3`.
"""

from __future__ import annotations

import functools
import os
import shlex
import sys
import sysconfig
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mail_lab.machine import rootfs
from mail_lab.machine.api import Machine
from mail_lab.machine.systemd import SystemdMachine
from mail_lab.mail import agent
from mail_lab.units.definitions import definitions, target_definitions
from mail_lab.units.plan import render_plan_units, tree_programs
from mail_lab.units.render import RenderContext, render_services, upstream_units
from mail_lab.units.unit import Unit

# Where the machine finds the lab's programs (first on the PATH of commands run in it).
PROGRAM_DIR = "/usr/local/bin"


@functools.cache
def _tree_facts(tree: Path) -> tuple[dict[str, str], RenderContext]:
    programs = tree_programs(tree)
    context = RenderContext(upstream_units=upstream_units(tree), packages=rootfs.tree_packages(tree))
    return programs, context


def machine_services(
    tree: Path, role: str, units: list[Unit], plan_units: Mapping[str, Any]
) -> dict[str, list[dict[str, Any]]]:
    """Service name -> definitions: the lab's unit, then the plan's fragment (if the machine has a plan)."""
    programs, _ = _tree_facts(tree)
    services = definitions(units, programs)
    if plan_units:
        for name, fragment in render_plan_units(role, plan_units, programs).items():
            services.setdefault(name, []).append(fragment)
    return services


def install_units(
    root: Path,
    tree: Path,
    role: str,
    units: list[Unit],
    plan_units: Mapping[str, Any],
) -> list[str]:
    """Render the machine's units and its plan's `units` into `root` (its root as seen from the
    host); returns the files."""
    _, context = _tree_facts(tree)
    services = machine_services(tree, role, units, plan_units)
    rendered = render_services(services, context, target_definitions(units))
    rendered.install(root)
    return sorted(rendered.files)


def add_units(machine: Machine, units: list[Unit], fragments: Mapping[str, Mapping[str, Any]]) -> None:
    """Units the lab adds to a running machine (a test's servers), with plan-style `fragments`
    (service name -> a NixOS definition, e.g. the plan's confinement) merged onto them by the
    renderer; started with `systemctl start` afterwards."""
    if not isinstance(machine, SystemdMachine):
        raise TypeError(f"{machine.name} is not a container machine")
    programs, context = _tree_facts(machine.spec.tree)
    services = definitions(units, programs, lab_programs())
    for name, fragment in fragments.items():
        services.setdefault(name, []).append(dict(fragment))
    render_services(services, context).install(machine.root_path("/"))
    machine.succeed("systemctl daemon-reload")


def lab_programs() -> dict[str, str]:
    """Programs a lab machine has beside its tree's packages: the lab's Python and mail test agent."""
    return {"python3": f"{PROGRAM_DIR}/python3", agent.COMMAND: f"{PROGRAM_DIR}/{agent.COMMAND}"}


def lab_scripts() -> dict[str, str]:
    """Path -> content of the programs the lab writes into every machine: the mail test agent
    (`mail-test-agent`, as the VM tests' nodes have it), run by the lab's Python from the lab's
    package, which the machine sees at its host path."""
    source = shlex.quote(str(Path(agent.__file__).resolve()))
    return {f"{PROGRAM_DIR}/{agent.COMMAND}": f'#!/bin/sh\nexec {PROGRAM_DIR}/python3 {source} "$@"\n'}


def _outermost(paths: list[Path]) -> list[Path]:
    unique = sorted({path.resolve() for path in paths})
    return [p for p in unique if not any(other != p and other in p.parents for other in unique)]


def host_python() -> Path:
    """The program behind the lab's Python (a venv's python is a link to it)."""
    return Path(os.path.realpath(sys.executable))


def code_binds(package_parent: Path) -> tuple[str, ...]:
    """Host paths the machine sees read-only: the Python program and its standard library (never
    a directory the tree has, such as /usr), the venv, the lab's package and, in a checkout, the
    checkout (the tests' scripts)."""
    python = [host_python(), Path(sysconfig.get_paths()["stdlib"])]
    if not str(sys.base_prefix).startswith("/usr"):
        python = [Path(sys.base_prefix)]  # a Python of its own (pyenv): all of it
    paths = [*python, Path(sys.prefix), package_parent]
    checkout = next((p for p in package_parent.parents if (p / "flake.nix").is_file()), None)
    if checkout is not None:
        paths.append(checkout)
    return tuple(str(path) for path in _outermost(paths))


def python_links() -> dict[str, str]:
    """Links to write in the machine: `/usr/local/bin/python3`, and every link on the way from the
    lab's own interpreter (a venv's `bin/python`) to the program that is not in a bound path
    (e.g. /usr/bin/python3), each to the program."""
    program = str(host_python())
    links = {f"{PROGRAM_DIR}/python3": program}
    bound = [Path(path) for path in code_binds(Path(sys.prefix))]
    step = Path(sys.executable)
    for _ in range(16):
        if not step.is_symlink():
            break
        step = step.parent / os.readlink(step)
        if str(step) != program and not any(b == step or b in step.parents for b in bound):
            links[os.path.normpath(step)] = program
    return links
