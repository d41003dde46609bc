"""One measurement each: mail bursts, delivery latency, TCP throughput, wireguard-go CPU, recovery
after a gateway restart, the lab's own bring-up/suite/teardown, the Nix evaluation.

Every wait is bounded in time (and so in count); a measurement that cannot finish raises
`BenchmarkError` or, where "did not recover within the bound" is itself the answer, returns the bound.
"""

from __future__ import annotations

import ipaddress
import json
import os
import shlex
import statistics
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

from benchmarks.direct_link import home_namespace, in_home_namespace
from benchmarks.netns import network_namespace
from mail_lab.driver import run_script
from mail_lab.lab.realize import DOCTOR_COMMAND
from mail_lab.lab.topology import load_topology
from mail_lab.lab.world import World
from mail_lab.machine.api import Machine
from mail_lab.mail import agent
from mail_lab.polling import poll
from mail_lab.services.dovecot import maildir_of

REPO = Path(__file__).resolve().parent.parent
SCENARIOS_DIR = REPO / "tests" / "scenarios"
SMTP_PORT = 25
# iperf3 listens on a port home already opens (the gateway forwards it and the `wg` namespace's
# firewall accepts it), so the benchmark changes no firewall. Nothing listens there otherwise
# (the ACME client only during an order); `tcp_throughput` refuses to start if something does.
IPERF_PORT = 80


class BenchmarkError(RuntimeError):
    """A measurement could not be made (the lab did not do what it must)."""


@dataclass(frozen=True)
class MailIdentity:
    """Who sends to whom: the remote's account to home's, from the remote's host name."""

    sender: str
    recipient: str
    helo: str

    @classmethod
    def of(cls, world: World) -> MailIdentity:
        view = world.view
        return cls(
            sender=view.account("remote"),
            recipient=view.account("home"),
            helo=view.machine("remote").fqdn,
        )


def public_addresses(world: World) -> tuple[str, str]:
    """Home's forwarded (public) IPv4 and IPv6 address."""
    home = world.view.home
    return home.public_address("ipv4"), home.public_address("ipv6")


def _host_port(address: str, port: int) -> str:
    return f"[{address}]:{port}" if ipaddress.ip_address(address).version == 6 else f"{address}:{port}"


# --- the mailbox ---------------------------------------------------------------------------------


class Mailbox:
    """The recipient's Maildir `new/` at home, read from the host through the machine's root."""

    def __init__(self, home: Machine, address: str):
        self.home = home
        self.maildir = maildir_of(address)

    @property
    def directory(self) -> Path:
        return self.home.root_path(self.maildir) / "new"

    def count(self) -> int:
        try:
            return len(os.listdir(self.directory))
        except FileNotFoundError:
            return 0

    def clear(self) -> None:
        """Delete what was delivered (dovecot copes with files removed behind its back)."""
        try:
            entries = list(os.scandir(self.directory))
        except FileNotFoundError:
            return
        for entry in entries:
            Path(entry.path).unlink(missing_ok=True)

    def wait_for(self, total: int, timeout: float, interval: float) -> float | None:
        """time.perf_counter() when the mailbox first holds `total` messages, None after `timeout`."""

        def arrived() -> float | None:
            return time.perf_counter() if self.count() >= total else None

        return poll(arrived, timeout, interval)


# --- mail ----------------------------------------------------------------------------------------


def mail_burst(
    world: World,
    mailbox: Mailbox,
    *,
    address: str,
    count: int,
    size: int,
    sessions: int,
    bound: float,
) -> float:
    """Seconds from starting postfix's smtp-source in the remote machine (`count` messages of
    `size` payload bytes over `sessions` parallel SMTP sessions to `address`:25) until the last of
    them is in the mailbox."""
    identity = MailIdentity.of(world)
    mailbox.clear()
    before = mailbox.count()
    command = shlex.join(
        [
            "timeout",
            str(int(bound)),
            "smtp-source",
            "-s",
            str(sessions),
            "-m",
            str(count),
            "-l",
            str(size),
            "-M",
            identity.helo,
            "-f",
            identity.sender,
            "-t",
            identity.recipient,
            _host_port(address, SMTP_PORT),
        ]
    )
    started = time.perf_counter()
    code, _ = world.machines["remote"].execute(command, timeout=int(bound) + 30)
    if code != 0:
        raise BenchmarkError(
            f"smtp-source to {address} failed (exit code {code}); see the remote's commands.log"
        )
    remaining = max(1.0, bound - (time.perf_counter() - started))
    reached = mailbox.wait_for(before + count, remaining, interval=0.01)
    if reached is None:
        queue = world.machines["home"].execute("postqueue -p | tail -n 5")[1]
        raise BenchmarkError(
            f"{mailbox.count() - before} of {count} messages to {address} reached the mailbox within"
            f" {bound:.0f} s; home's queue: {queue.strip()}"
        )
    mailbox.clear()
    return reached - started


def _latency_job(identity: MailIdentity, address: str, body_size: int, bound: float) -> dict[str, object]:
    """The agent's job that sends one message of about `body_size` bytes to `address`."""
    line = "Latency probe of the home-mail benchmarks.\n"
    return {
        "server": address,
        "port": SMTP_PORT,
        "helo": identity.helo,
        "timeout": bound,
        "sender": identity.sender,
        "recipient": identity.recipient,
        "subject": "mail-lab benchmark: latency",
        "message_id": f"<latency.{uuid.uuid4().hex}@mail-lab.test>",
        "body": line * max(1, body_size // len(line)),
    }


def delivery_latencies(
    world: World, mailbox: Mailbox, address: str, messages: int, bound: float
) -> list[float]:
    """Seconds from opening the SMTP connection (in the remote machine's namespace) until the
    message is in the mailbox, for `messages` messages sent one after the other."""
    identity = MailIdentity.of(world)
    remote = world.machines["remote"].namespace_path
    latencies = []
    mailbox.clear()
    for _ in range(messages):
        job = _latency_job(identity, address, 1000, bound)
        before = mailbox.count()
        started = time.perf_counter()
        with network_namespace(remote):
            sent = agent.send(job)
        if not sent["accepted"]:
            raise BenchmarkError(f"{address} refused a message: {sent}")
        reached = mailbox.wait_for(before + 1, bound, interval=0.002)
        if reached is None:
            raise BenchmarkError(f"a message to {address} did not reach the mailbox within {bound:.0f} s")
        latencies.append(reached - started)
    mailbox.clear()
    return latencies


def percentile(values: list[float], percent: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[percent - 1]


# --- TCP and wireguard-go ------------------------------------------------------------------------


@dataclass(frozen=True)
class TcpResult:
    bits_per_second: float
    received_bytes: int


def _listening(world: World, port: int) -> bool:
    command = in_home_namespace(world, f"ss -Hltn 'sport = :{port}' | grep -q .")
    return world.machines["home"].execute(command)[0] == 0


def _wait_listening(world: World, port: int, want: bool, timeout: float) -> None:
    if poll(lambda: _listening(world, port) == want, timeout, 0.1):
        return
    state = "listening" if want else "free"
    raise BenchmarkError(f"port {port} in home's namespace is not {state} after {timeout:.0f} s")


def tcp_throughput(world: World, address: str, seconds: int) -> TcpResult:
    """iperf3 from the remote machine to a one-off iperf3 server in home's `wg` namespace."""
    home, remote = world.machines["home"], world.machines["remote"]
    _wait_listening(world, IPERF_PORT, want=False, timeout=15)
    server = f"timeout {seconds + 30} iperf3 --server --one-off --port {IPERF_PORT}"
    home.execute(f"ip netns exec {shlex.quote(home_namespace(world))} {server}", check_output=False)
    _wait_listening(world, IPERF_PORT, want=True, timeout=15)
    client = f"timeout {seconds + 30} iperf3 --client {address} --port {IPERF_PORT} --time {seconds} --json"
    code, output = remote.execute(client, timeout=seconds + 60)
    if code != 0:
        raise BenchmarkError(f"iperf3 to {address} failed (exit code {code}): {output[-500:]}")
    report = json.loads(output)["end"]["sum_received"]
    return TcpResult(float(report["bits_per_second"]), int(report["bytes"]))


def _process_cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # utime and stime (fields 14 and 15 of proc(5)), in clock ticks, of all threads.
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def wireguard_cpu_seconds(machine: Machine) -> float:
    """CPU seconds used so far by the wireguard-go processes in `machine`'s own network namespace."""
    namespace = os.stat(machine.namespace_path).st_ino
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() != "wireguard-go":
                continue
            if os.stat(entry / "ns" / "net").st_ino != namespace:
                continue
            total += _process_cpu_seconds(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return total


# --- the lab itself ------------------------------------------------------------------------------


def scenario_names() -> list[str]:
    """The scenarios of tests/scenarios, `restart` last (it replaces the namespace), as pytest runs them."""
    names = sorted(p.stem for p in SCENARIOS_DIR.glob("*.py") if p.stem != "common")
    return [n for n in names if n != "restart"] + (["restart"] if "restart" in names else [])


@dataclass(frozen=True)
class LabCycle:
    up_seconds: float
    settled_seconds: float
    suite_seconds: float
    down_seconds: float
    scenario_seconds: dict[str, float]


def lab_cycle(prefix: str) -> LabCycle:
    """Bring a lab up, run every scenario script on it (as tests/lab/test_scenarios.py does), tear it down."""
    started = time.perf_counter()
    world = World.up(prefix=prefix, settle=False)
    up = time.perf_counter() - started
    scenarios: dict[str, float] = {}
    try:
        world.settle()
        settled = time.perf_counter() - started
        suite_started = time.perf_counter()
        for name in scenario_names():
            scenario_started = time.perf_counter()
            run_script(SCENARIOS_DIR / f"{name}.py", world, prelude=[SCENARIOS_DIR / "common.py"])
            scenarios[name] = time.perf_counter() - scenario_started
        suite = time.perf_counter() - suite_started
    finally:
        down_started = time.perf_counter()
        world.down()
        down = time.perf_counter() - down_started
    return LabCycle(up, settled, suite, down, scenarios)


def nix_evaluation() -> float:
    """Seconds for `nix-instantiate --eval --strict --json tests/topology.nix` (what the lab runs)."""
    started = time.perf_counter()
    load_topology()
    return time.perf_counter() - started


# --- the doctor ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DoctorRun:
    seconds: float
    exit_code: int


def doctor_run(machine: Machine) -> DoctorRun:
    """One `home-mail-doctor --json` in `machine`, timed from the host (entering the machine included)."""
    started = time.perf_counter()
    code, _ = machine.execute(f"{DOCTOR_COMMAND} --json", timeout=120)
    return DoctorRun(time.perf_counter() - started, code)


def doctor_until_healthy(machine: Machine, bound: float, pause: float = 1.0) -> DoctorRun:
    """Runs the doctor in `machine` until it exits 0 or `bound` seconds have passed; the last run."""
    last: list[DoctorRun] = []

    def healthy() -> bool:
        last[:] = [doctor_run(machine)]
        return last[0].exit_code == 0

    poll(healthy, bound, pause)
    return last[0]
