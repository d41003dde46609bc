"""The test world and the role plans, as computed by the project's Nix code.

`load_topology` evaluates `tests/topology.nix` (which calls `lib/`) with
`nix-instantiate --eval --strict --json` and returns its JSON:
`{ world, gatewayIntent, homeIntent, plans = { gateway, home } }` (docs/design.md).
`overrides` (a Python mapping) is passed as the Nix expression `--arg overrides { ... }`.

`TopologyView` reads that JSON with names: the world's machines and keys, each role's plan (its
unit names, namespace and addresses, as lib/ computed them) and the doctor's plan files. The JSON
itself stays what the state directory and the scenario scripts' `topology` global hold.
"""

from __future__ import annotations

import contextlib
import ipaddress
import json
import os
import shutil
import subprocess
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mail_lab.commands import capture
from mail_lab.errors import LabError

REPO_ENV = "MAIL_LAB_REPO"
NIX_TIMEOUT = 120.0
TOP_LEVEL_KEYS = ("world", "gatewayIntent", "homeIntent", "plans")
FAMILIES = ("ipv4", "ipv6")


class PlanError(LabError, RuntimeError):
    """The Nix evaluation failed or returned something that is not a topology."""


def repository_root() -> Path:
    """The project checkout: $MAIL_LAB_REPO, else found upwards from this package."""
    configured = os.environ.get(REPO_ENV)
    if configured:
        return Path(configured)
    for parent in Path(__file__).resolve().parents:
        if (parent / "tests" / "topology.nix").is_file() and (parent / "lib").is_dir():
            return parent
    raise PlanError(f"cannot find the repository (tests/topology.nix); set {REPO_ENV}")


def nix_expression(value: Any) -> str:
    """`value` (JSON-like Python data) as a Nix expression."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        # A JSON string is a valid Nix string once "${" cannot start an interpolation.
        return json.dumps(value).replace("${", "\\${")
    if isinstance(value, list | tuple):
        return "[ " + " ".join(f"({nix_expression(item)})" for item in value) + " ]"
    if isinstance(value, Mapping):
        return (
            "{ " + " ".join(f"{json.dumps(str(k))} = {nix_expression(v)};" for k, v in value.items()) + " }"
        )
    raise TypeError(f"cannot express {type(value).__name__} in Nix")


def evaluate(topology_file: Path, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    text = nix_eval_json(
        [str(topology_file), "--arg", "overrides", nix_expression(overrides or {})], str(topology_file)
    )
    return parse(text, str(topology_file))


def nix_eval_json(arguments: list[str], source: str) -> str:
    """`nix-instantiate --eval --strict --json <arguments>`'s output; PlanError naming `source`."""
    argv = ["nix-instantiate", "--eval", "--strict", "--json", *arguments]
    # Debian's nix-bin names a build group that does not exist; evaluation does not need it.
    env = {**os.environ, "NIX_CONFIG": os.environ.get("NIX_CONFIG", "build-users-group =")}
    if shutil.which(argv[0], path=env.get("PATH")) is None:
        raise PlanError("nix-instantiate not found: install the Debian package nix-bin")
    with contextlib.ExitStack() as stack:
        if os.geteuid() != 0 and "NIX_STATE_DIR" not in env:
            # Run as a user, Nix would fix up root's /nix/var/nix and fail; evaluation keeps no state.
            env["NIX_STATE_DIR"] = stack.enter_context(tempfile.TemporaryDirectory(prefix="mail-lab-nix-"))
        try:
            result = capture(argv, timeout=NIX_TIMEOUT, env=env)
        except FileNotFoundError:
            raise PlanError("nix-instantiate not found: install the Debian package nix-bin") from None
        except OSError as error:
            raise PlanError(f"cannot run nix-instantiate ({error.strerror}): reinstall nix-bin") from None
        except subprocess.TimeoutExpired:
            raise PlanError(f"nix-instantiate took more than {NIX_TIMEOUT:.0f} s on {source}") from None
    if result.returncode != 0:
        raise PlanError(f"evaluating {source} failed:\n{result.stderr.strip()}")
    return result.stdout


def parse(text: str, source: str) -> dict[str, Any]:
    try:
        topology = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlanError(f"{source}: not JSON: {error}") from None
    if not isinstance(topology, dict):
        raise PlanError(f"{source}: expected an attribute set, got {type(topology).__name__}")
    missing = [key for key in TOP_LEVEL_KEYS if key not in topology]
    missing += [f"plans.{role}" for role in ("gateway", "home") if role not in topology.get("plans", {})]
    if missing:
        raise PlanError(f"{source}: missing {', '.join(missing)}")
    for role in ("gateway", "home"):
        plan_role = topology["plans"][role].get("role")
        if plan_role != role:
            raise PlanError(f"{source}: plans.{role}.role is {plan_role!r}, expected {role!r}")
    return topology


def load_topology(
    overrides: Mapping[str, Any] | None = None, repository: Path | None = None
) -> dict[str, Any]:
    root = repository or repository_root()
    return evaluate(root / "tests" / "topology.nix", overrides)


def _family(family: str) -> str:
    if family not in FAMILIES:
        raise ValueError(f"address family {family!r}: use one of {', '.join(FAMILIES)}")
    return family


def bare_address(value: str) -> str:
    """`192.0.2.10/24` or `192.0.2.10`: the address alone."""
    return str(ipaddress.ip_interface(value).ip)


@dataclass(frozen=True)
class WorldMachine:
    """A machine of the test world, `world.machines.<name>`."""

    name: str
    interface: str
    interface_addresses: Mapping[str, str]  # family -> address with prefix length (192.0.2.10/24)
    fqdn: str = ""  # a mail server's (home, remote)
    maildir: str = ""  # the remote's mailbox

    @classmethod
    def of(cls, name: str, data: Mapping[str, Any]) -> WorldMachine:
        return cls(
            name=name,
            interface=str(data["interface"]),
            interface_addresses={family: str(data[family]) for family in FAMILIES},
            fqdn=str(data.get("fqdn", "")),
            maildir=str(data.get("maildir", "")),
        )

    def interface_address(self, family: str) -> str:
        """The address of `family` with its prefix length (`192.0.2.10/24`)."""
        return self.interface_addresses[_family(family)]

    def address(self, family: str) -> str:
        """The address of `family` alone."""
        return bare_address(self.interface_address(family))


@dataclass(frozen=True)
class Namespace:
    """A plan's network namespace (`namespace`): its name and file; `data` has all of its fields."""

    name: str
    path: str  # /run/netns/<name>, as lib/names.nix made it
    data: Mapping[str, Any]

    @classmethod
    def of(cls, data: Mapping[str, Any]) -> Namespace:
        return cls(name=str(data["name"]), path=str(data["path"]), data=data)


@dataclass(frozen=True)
class Plan:
    """A role's plan, `plans.<role>` (lib/): the names and paths the lab reads, never rebuilds."""

    data: Mapping[str, Any]

    @property
    def role(self) -> str:
        return str(self.data["role"])

    @property
    def wireguard(self) -> Mapping[str, Any]:
        return dict(self.data["wireguard"])

    @property
    def interface(self) -> str:
        """The WireGuard interface."""
        return str(self.wireguard["interface"])

    @property
    def interface_unit(self) -> str:
        """The WireGuard interface's unit (`wireguardUnits.interface`)."""
        return str(self.data["wireguardUnits"]["interface"])

    def peer_unit(self, peer: str) -> str:
        """The unit of the WireGuard peer named `peer` (`wireguardUnits.peers.<peer>`)."""
        return str(self.data["wireguardUnits"]["peers"][peer])

    @property
    def peers(self) -> list[Mapping[str, Any]]:
        return list(self.wireguard.get("peers", []))

    @property
    def namespace(self) -> Namespace:
        if not self.data.get("namespace"):
            raise PlanError(f"plans.{self.role} has no namespace")
        return Namespace.of(self.data["namespace"])

    @property
    def units(self) -> Mapping[str, Mapping[str, Any]]:
        """The plan's `units`: systemd.services definitions by attribute name."""
        units: Mapping[str, Mapping[str, Any]] = self.data["units"]
        return units

    @property
    def delivery(self) -> Mapping[str, Any]:
        """Home's delivery settings (`delivery`: dovecotLmtp, postfixMain, duplicateFilter)."""
        delivery: Mapping[str, Any] = self.data["delivery"]
        return delivery

    @property
    def endpoint_memory(self) -> Mapping[str, Any]:
        """The gateway's saved endpoints (`endpointMemory`: unit, file, saveInterval); empty without."""
        memory: Mapping[str, Any] = self.data.get("endpointMemory") or {}
        return memory

    def public_addresses(self, family: str) -> list[str]:
        """Home's forwarded (public) addresses of `family` (`addresses`), bare."""
        return [bare_address(a) for a in self.data["addresses"][_family(family)]]

    def public_address(self, family: str) -> str:
        return self.public_addresses(family)[0]


@dataclass(frozen=True)
class TopologyView:
    """The topology's JSON (`load_topology`) with names; `data` is that JSON, unchanged."""

    data: Mapping[str, Any]

    @property
    def world(self) -> Mapping[str, Any]:
        world: Mapping[str, Any] = self.data["world"]
        return world

    def plan(self, role: str) -> Plan:
        return Plan(self.data["plans"][role])

    @property
    def home(self) -> Plan:
        return self.plan("home")

    @property
    def gateway(self) -> Plan:
        return self.plan("gateway")

    def machine(self, name: str) -> WorldMachine:
        return WorldMachine.of(name, self.world["machines"][name])

    @property
    def keys(self) -> dict[str, dict[str, str]]:
        """Each machine's WireGuard keys (`world.keys.<name>.{private,public}`)."""
        return {name: dict(pair) for name, pair in self.world["keys"].items()}

    def account(self, role: str) -> str:
        """The mail account of `role` ("home" | "remote")."""
        return str(self.world["accounts"][role])

    def domain(self, role: str) -> str:
        return str(self.world["domains"][role])

    def password(self, account: str) -> str:
        return str(self.world["passwords"][account])

    def doctor(self, role: str) -> Mapping[str, Any]:
        """The doctor's plan file of `role` (`doctor.<role>`), as the modules install it."""
        doctor: Mapping[str, Any] = self.data["doctor"][role]
        return doctor
