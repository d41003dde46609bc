"""What NixOS applies at boot from a role's plan, applied to a lab machine (the units come back)."""

from __future__ import annotations

import json
import shlex
import sys
from collections.abc import Mapping
from typing import Any

from mail_lab.errors import LabError
from mail_lab.lab.topology import Plan, TopologyView
from mail_lab.machine.api import Machine
from mail_lab.net import netconf
from mail_lab.net.wireguard import wireguard_units
from mail_lab.units.install import PROGRAM_DIR
from mail_lab.units.unit import Unit

# The doctor's command (pkgs/home-mail-doctor), installed in gateway and home.
DOCTOR_COMMAND = "home-mail-doctor"


class PlanRealizeError(LabError, RuntimeError):
    """The topology lacks what a plan needs on its machine."""


def realize_plan(machine: Machine, plan: Mapping[str, Any], topology: Mapping[str, Any]) -> list[Unit]:
    """What NixOS applies at boot from a plan (sysctl, nftables, neighbours, /etc) + its units."""
    if plan.get("sysctl"):
        machine.succeed(netconf.sysctl(dict(plan["sysctl"])))
    for neighbour in plan.get("proxyNeighbours", []):
        machine.succeed(netconf.proxy_neighbour(neighbour["address"], neighbour["dev"], "proxyNeighbours"))
    if plan.get("nftables"):
        machine.succeed(f"nft -f - <<'EOF'\n{plan['nftables']['ruleset']}EOF")
    doctor = topology.get("doctor", {}).get(machine.name)
    if doctor is not None:
        # What the modules install: the doctor (home-mail-doctor) reads it as on NixOS.
        machine.write_file(doctor["file"], json.dumps(doctor, indent=2) + "\n", mode=0o600)
        # On the machine's PATH, as the modules put it on NixOS' (the package is in the lab's venv).
        machine.write_file(
            f"{PROGRAM_DIR}/{DOCTOR_COMMAND}",
            f'#!/bin/sh\nexec {shlex.quote(sys.executable)} -m home_mail_doctor "$@"\n',
            mode=0o755,
        )
    namespace = plan.get("namespace") or {}
    for relative, content in sorted((namespace.get("etc") or {}).items()):
        machine.write_file(f"/etc/{relative}", content)
    wg = plan.get("wireguard")
    if not wg:
        return []
    keys = TopologyView(topology).keys
    if machine.name not in keys:
        raise PlanRealizeError(f"world.keys has no WireGuard key for {machine.name}")
    machine.write_file(str(wg["privateKeyFile"]), keys[machine.name]["private"] + "\n", mode=0o600)
    return wireguard_units(Plan(plan))
