"""A plan's `units` as NixOS `systemd.services` definitions for a lab machine.

The plan's commands are argument lists with bare program names; the NixOS modules turn them into
Exec lines with `lib.renderUnit programs` (modules/netns.nix), `programs` mapping each name to a
store path. The lab calls the same Nix function, with each program mapped to its package's link
in the machines' tree (`/usr/lib/mail-lab/packages/<package>/bin/<program>`, mail_lab.machine.rootfs), so
the Exec lines in a lab machine are rendered by the project's one rule, like on NixOS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mail_lab.lab.topology import PlanError, load_topology, nix_eval_json, nix_expression, repository_root
from mail_lab.machine import rootfs


def tree_programs(tree: Path) -> dict[str, str]:
    """Every program of the tree's packages -> its path inside a machine (bin before sbin)."""
    farm = tree / rootfs.PACKAGE_PROGRAMS.lstrip("/")
    programs: dict[str, str] = {}
    for kind in ("bin", "sbin"):
        for package in sorted(rootfs.tree_packages(tree)):
            directory = farm / package / kind
            for program in sorted(directory.iterdir()) if directory.is_dir() else []:
                programs.setdefault(
                    program.name, f"{rootfs.PACKAGE_PROGRAMS}/{package}/{kind}/{program.name}"
                )
    return programs


def plan_services(
    role: str,
    programs: Mapping[str, str],
    overrides: Mapping[str, Any] | None = None,
    repository: Path | None = None,
) -> dict[str, dict[str, Any]]:
    """`plans.<role>.units` of tests/topology.nix with every Exec* command rendered for the tree."""
    topology = load_topology(overrides, repository)
    return render_plan_units(role, topology["plans"][role]["units"], programs)


def lib_directory() -> Path:
    """The project's Nix library: the repository's, else the checkout this package is in (a
    repository given by $MAIL_LAB_REPO may hold only a topology that imports the project's)."""
    candidates = [repository_root(), *Path(__file__).resolve().parents]
    for candidate in candidates:
        if (candidate / "lib" / "default.nix").is_file():
            return candidate / "lib"
    raise PlanError("cannot find the project's Nix library (lib/default.nix)")


def render_plan_units(
    role: str, units: Mapping[str, Any], programs: Mapping[str, str]
) -> dict[str, dict[str, Any]]:
    """A plan's `units` (as the lab's topology holds them) with every Exec* command rendered for
    the tree by `lib.renderUnit`, the modules' own function."""
    expression = (
        f"let lib = import {lib_directory()}; programs = {nix_expression(dict(programs))};"
        f" in builtins.mapAttrs (_: lib.renderUnit programs) {nix_expression(dict(units))}"
    )
    services = json.loads(nix_eval_json(["--expr", expression], f"the {role} plan's units"))
    if not isinstance(services, dict):
        raise PlanError(f"plans.{role}.units: expected an attribute set")
    return services
