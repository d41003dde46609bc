"""The virtual internet of tests/topology.nix, with the gateway and home plans realized on it.

- `internet` routes between one link per attached machine (v4/v6 forwarding). Every link is a
  veth created inside `internet` whose peer is created directly in the machine's namespace as
  `eth0` (never in the host's); a link shared by several machines (`edge`) is a bridge in
  `internet`. The router holds .1 / ::1 on each link and the DNS addresses on the link that
  contains them. It blocks the links' `blockedTcpPorts` in both directions (the home ISP's port
  25), and a guard table counts and drops any packet from or to a non-documentation address.
- every machine is a container booting Debian's systemd (mail_lab.machine.systemd) in its
  namespace; its units, the lab's and its plan's `units`, are unit files (mail_lab.units.install).
- `gateway` and `home` get their plan: sysctls, nftables, proxy neighbours, the plan's /etc files,
  the WireGuard units (mail_lab.net.wireguard) and the plan's `units` (mail_lab.lab.realize).
- the mail daemons come from `mail_lab.services.units_for` (another part of the lab).
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from mail_lab.commands import run
from mail_lab.errors import LabError
from mail_lab.lab import safety
from mail_lab.lab.audit import audit_topology
from mail_lab.lab.paths import LabConfig
from mail_lab.lab.processes import ProcessRef
from mail_lab.lab.realize import realize_plan
from mail_lab.lab.record import LabRecord
from mail_lab.lab.startup import start_units, wait_until_settled
from mail_lab.lab.teardown import TeardownReport, lab_namespaces, teardown
from mail_lab.lab.topology import TopologyView, load_topology
from mail_lab.machine import rootfs
from mail_lab.machine.api import Machine, MachineError
from mail_lab.machine.container import Container, ContainerSpec, find_containers, mount_root
from mail_lab.machine.systemd import SystemdMachine
from mail_lab.net.internet import Internet
from mail_lab.net.namespaces import create_namespace, list_namespaces, remove_namespace
from mail_lab.units.install import code_binds, install_units, lab_scripts, python_links
from mail_lab.units.unit import Unit

MACHINE_ORDER = ("internet", "gateway", "home", "remote", "client")

# A container machine boots to basic.target; its multi-user.target (the lab's daemons) is started
# once the world has attached and configured it, as NixOS starts daemons after its network.
BOOT_TARGET = "basic.target"
# What the homes' units reach at their start: started first (see World._start_stages).
INFRASTRUCTURE = ("internet", "gateway")


class WorldError(LabError, RuntimeError):
    """The lab could not be built as the topology describes."""


def _hosts_file(machine: Mapping[str, Any]) -> str:
    """localhost, then the machine's `hosts` (tests/topology.nix: what NixOS's networking.hosts
    holds for its host name and domain)."""
    lines = ["127.0.0.1 localhost", "::1 localhost ip6-localhost ip6-loopback"]
    lines += [f"{address} {' '.join(names)}" for address, names in machine.get("hosts", {}).items()]
    return "\n".join(lines) + "\n"


class World:
    def __init__(
        self,
        config: LabConfig,
        topology: dict[str, Any],
        services: bool,
        overrides: dict[str, Any],
    ):
        self.config = config
        self.topology = topology
        self.services = services
        self.overrides = overrides
        self.tree = rootfs.ensure_tree()
        self.machines: dict[str, SystemdMachine] = {
            name: self._container_machine(name, self.tree) for name in MACHINE_ORDER
        }
        self.internet = Internet(self.world, self.machines)
        self._ca: Any = None
        # Machine -> its units whose boot-time jobs World.up does not wait for (see settle).
        self._background: dict[str, tuple[str, ...]] = {}
        self._services_lock = threading.Lock()

    # --- construction ----------------------------------------------------------------------------

    @property
    def state_dir(self) -> Path:
        return self.config.state_root

    @property
    def world(self) -> dict[str, Any]:
        return dict(self.topology["world"])

    @property
    def view(self) -> TopologyView:
        """The topology with names (lab.topology.TopologyView)."""
        return TopologyView(self.topology)

    @classmethod
    def up(
        cls,
        prefix: str | None = None,
        overrides: dict[str, Any] | None = None,
        services: bool = True,
        topology: dict[str, Any] | None = None,
        owner: ProcessRef | None = None,
        *,
        settle: bool = True,
    ) -> World:
        """Remove a stale lab of this prefix, then build and start the whole world: every machine
        reached its multi-user.target with no job left but the background ones (see
        World.settle); with `settle`, those have ended too."""
        config = LabConfig.from_environment(prefix)
        if os.geteuid() != 0:
            raise WorldError("the lab needs root (network namespaces, mounts)")
        teardown(config)
        # Logs of an earlier lab would mix with this one's.
        shutil.rmtree(config.state_root / "logs", ignore_errors=True)
        topology = topology if topology is not None else load_topology(overrides)
        audit_topology(topology)
        world = cls(config, topology, services, dict(overrides or {}))
        try:
            world._build(owner, settle)
        except BaseException as error:
            # A note, not a log line: the CLI prints it on the error's line, a traceback below it.
            error.add_note(f"bring-up of {config.prefix!r} failed; logs in {config.state_root / 'logs'}")
            teardown(config)
            raise
        return world

    @classmethod
    def attach(cls, prefix: str | None = None) -> World:
        """The lab that is up (built by another process), to drive it from here."""
        config = LabConfig.from_environment(prefix)
        record = LabRecord.load(config)
        if record is None or not config.topology_file.exists():
            raise WorldError(f"no lab with prefix {config.prefix!r} is up (run `mail-lab up`)")
        world = cls(
            config,
            json.loads(config.topology_file.read_text()),
            record.services,
            record.overrides,
        )
        for container in find_containers(config.owns_namespace):
            machine = world.machines.get(container.spec.name.removeprefix(config.prefix))
            if machine is not None:
                machine.container = container
        world.internet.connect_uplinks()
        return world

    def down(self) -> TeardownReport:
        return teardown(self.config)

    def record(self, owner: ProcessRef | None = None) -> LabRecord:
        existing = LabRecord.load(self.config)
        return LabRecord(
            prefix=self.config.prefix,
            inits={name: _init_of(m) for name, m in self.machines.items()},
            owner=owner if owner is not None else (existing.owner if existing else None),
            services=self.services,
            overrides=self.overrides,
            builder=existing.builder if existing else None,
            complete=existing.complete if existing else False,
        )

    def _build(self, owner: ProcessRef | None, settle: bool) -> None:
        self.config.state_root.mkdir(parents=True, exist_ok=True, mode=0o755)
        self.config.topology_file.write_text(json.dumps(self.topology, indent=1, sort_keys=True))
        started = self.record(owner)
        started.builder, started.complete = ProcessRef.of(os.getpid()), False
        started.save(self.config)
        self._boot_containers(list(self.machines.values()))
        self.internet.build()
        for name in MACHINE_ORDER[1:]:
            self.internet.attach(self.machines[name])
        self.internet.connect_uplinks()
        self._configure_and_start_machines()
        if settle:
            self.settle()
        finished = self.record()
        finished.complete = True
        finished.save(self.config)

    # --- machines ---------------------------------------------------------------------------------

    def _machine_topology(self, name: str) -> dict[str, Any]:
        return dict(self.world["machines"].get(name, {}))

    def _container_machine(self, name: str, tree: rootfs.Tree) -> SystemdMachine:
        info = self._machine_topology(name)
        spec = ContainerSpec(
            name=self.config.namespace(name),
            hostname=str(info.get("hostName", name)),
            tree=tree.root,
            state_dir=self.config.machine_dir(name),
            network_namespace=self.config.namespace(name),
            read_only_binds=code_binds(_package_parent()),
            init_arguments=(f"systemd.unit={BOOT_TARGET}",),
        )
        machine = SystemdMachine(self.config, name, spec)
        machine.lifecycle = self
        return machine

    def _create_namespace(self, machine: SystemdMachine) -> None:
        namespace = safety.check_namespace_name(self.config, machine.namespace)
        if namespace in list_namespaces():
            raise WorldError(f"namespace {namespace} exists although the lab was just cleaned up")
        create_namespace(namespace)
        # No duplicate address detection anywhere in the lab: addresses are usable at once.
        run(
            [
                "ip",
                "netns",
                "exec",
                namespace,
                "sysctl",
                "-q",
                "-w",
                "net.ipv6.conf.all.accept_dad=0",
                "net.ipv6.conf.default.accept_dad=0",
            ]
        )
        run(["ip", "-n", namespace, "link", "set", "lo", "up"])

    def _base_files(self, name: str) -> dict[str, str]:
        """/etc files every machine has from the topology (NixOS: networking.*)."""
        info = self._machine_topology(name)
        hostname = str(info.get("hostName", name))
        dns = self.world["internet"]["dns"]
        return {
            "/etc/hosts": _hosts_file(info),
            "/etc/hostname": hostname + "\n",
            "/etc/mailname": str(info.get("fqdn", hostname)) + "\n",
            "/etc/resolv.conf": f"nameserver {dns['ipv4']}\nnameserver {dns['ipv6']}\n",
        }

    def _boot_containers(self, machines: list[SystemdMachine]) -> None:
        """Each machine's namespace and root (its /etc files, the lab's python3 and programs), then every
        container boots at once, to basic.target (see BOOT_TARGET)."""
        for machine in machines:
            self._create_namespace(machine)
            mount_root(machine.spec)
            root = machine.spec.root
            for path, content in self._base_files(machine.name).items():
                target = root / path.lstrip("/")
                # resolv.conf may be a link into /run in the tree: the machine's own file instead.
                target.unlink(missing_ok=True)
                target.write_text(content)
            for link, python in python_links().items():
                target = root / link.lstrip("/")
                target.unlink(missing_ok=True)
                target.symlink_to(python)
            for path, script in lab_scripts().items():
                (root / path.lstrip("/")).write_text(script)
                (root / path.lstrip("/")).chmod(0o755)
            machine.container = Container.boot(machine.spec)
            self.record().save(self.config)
        for machine in machines:
            assert machine.container is not None
            state = machine.container.wait_running()
            if state != "running":
                failed = ", ".join(machine.container.failed_units())
                raise WorldError(f"{machine.name} booted {state}: failed units {failed}")

    # --- plans and units ----------------------------------------------------------------------

    def _configure_and_start(self, machine: SystemdMachine) -> None:
        self._configure(machine)
        start_units(machine, self._background.get(machine.name, ()))

    def _configure_and_start_machines(self) -> None:
        """Every machine is configured at once; each stage of machines starts its units as soon as
        its machines are configured and the previous stage is up. Within a stage every machine
        reaches its multi-user.target at the same time, as the test driver's start_all boots
        every VM at once (no unit waits for another machine's)."""
        if self.services:
            self._service_units_module()  # the lab CA, made once before the machines need it
        with ThreadPoolExecutor(max_workers=len(self.machines), thread_name_prefix="machine") as pool:
            configured = {m.name: pool.submit(self._configure, m) for m in self.machines.values()}
            try:
                for stage in self._start_stages():
                    starts = [pool.submit(self._start_configured, configured[m.name], m) for m in stage]
                    for start in starts:
                        start.result()  # the first machine that failed to start raises here
            finally:
                for configuring in configured.values():
                    configuring.cancel()

    def _start_configured(self, configuring: Future[None], machine: SystemdMachine) -> None:
        configuring.result()
        start_units(machine, self._background.get(machine.name, ()))

    def _start_stages(self) -> list[list[SystemdMachine]]:
        """Machines whose units start together. On real systemd the internet's services and the
        gateway come first: home's units that its plan wants with the namespace (the ACME order,
        as NixOS starts it at boot) reach pebble through the gateway's tunnel."""
        machines = list(self.machines.values())
        first = [m for m in machines if m.name in INFRASTRUCTURE]
        return [first, [m for m in machines if m.name not in INFRASTRUCTURE]]

    def settle(self) -> None:
        """Wait until no machine has a job left, the background ones included: the lab's units
        that it does not start at boot but the plan starts anyway (home's ACME order, which
        netns@wg wants, as NixOS starts the order at boot without the boot waiting for it)."""
        for machine in self.machines.values():
            if machine.container is not None:
                wait_until_settled(machine)

    def _configure(self, machine: SystemdMachine) -> None:
        """Write the machine's plan and daemon configuration and install its units."""
        plan = self.topology["plans"].get(machine.name)
        units: list[Unit] = []
        if plan is not None:
            units += realize_plan(machine, plan, self.topology)
        units += self._service_units(machine)
        self._background[machine.name] = tuple(unit.name for unit in units if not unit.start_at_boot)
        plan_units = (plan or {}).get("units") or {}
        install_units(machine.root_path("/"), self.tree.root, machine.name, units, plan_units)
        machine.succeed("systemctl daemon-reload")

    def _service_units(self, machine: Machine) -> list[Unit]:
        if not self.services:
            return []
        services = self._service_units_module()
        # One machine at a time: the services' configuration makes lab-wide files on first use
        # (the accounts, the DKIM keys) that every mail machine reads.
        with self._services_lock:
            units: list[Unit] = services.units_for(machine, self.topology, self._ca)
        return units

    def _service_units_module(self) -> Any:
        """mail_lab.services, with the lab CA its units use (made on first use)."""
        try:
            services = importlib.import_module("mail_lab.services")
        except ImportError as error:
            raise WorldError(
                f"the mail services (mail_lab.services) cannot be loaded: {error}; "
                "bring the lab up without services to test the network alone"
            ) from error
        if self._ca is None:
            self._ca = services.LabCA.create(self.config.state_root)
        return services

    # --- lifecycle (Machine.start/shutdown/crash) -------------------------------------------------

    def boot(self, machine: Machine) -> None:
        if machine.name == "internet":
            raise MachineError("the internet machine is the lab itself: use `mail-lab up` to rebuild it")
        if not isinstance(machine, SystemdMachine):
            raise MachineError(f"{machine.name} is not a machine of this world")
        self._boot_containers([machine])
        self.internet.attach(machine)
        self._configure_and_start(machine)
        # A machine started on its own is up when its background jobs have ended too.
        wait_until_settled(machine)
        self.record().save(self.config)

    def power_off(self, machine: Machine, crash: bool) -> None:
        if machine.name == "internet":
            raise MachineError("the internet machine is the lab itself: use `mail-lab down`")
        if not isinstance(machine, SystemdMachine):
            raise MachineError(f"{machine.name} is not a machine of this world")
        if machine.container is not None:
            if crash:
                machine.container.kill()
            else:
                machine.container.power_off()
            machine.container = None
        if machine.namespace in list_namespaces():
            remove_namespace(machine.namespace)
        self.record().save(self.config)


def _init_of(machine: SystemdMachine) -> ProcessRef | None:
    """The process whose life is the machine's: its container's PID 1."""
    return machine.container.init if machine.container is not None else None


def _package_parent() -> Path:
    return Path(__file__).resolve().parents[2]


__all__ = ["World", "WorldError", "lab_namespaces"]
