"""Recovery after a gateway restart or crash: how long until the remote reaches home again, with
and without the gateway's saved endpoint of home (the plan's endpointMemory)."""

from __future__ import annotations

import shlex
import time
from dataclasses import dataclass

from benchmarks.direct_link import in_home_namespace
from benchmarks.measure import SMTP_PORT, BenchmarkError, public_addresses
from benchmarks.netns import network_namespace
from mail_lab.lab.world import World
from mail_lab.mail import agent
from mail_lab.polling import poll


def endpoint_memory_file(world: World) -> str | None:
    """Where the gateway keeps home's endpoint across a restart (the fix), None without the fix."""
    file = world.view.gateway.endpoint_memory.get("file")
    return str(file) if file else None


def _home_reachable(world: World, timeout: float) -> bool:
    address = public_addresses(world)[0]
    # The server greets with 220 within `timeout`, from the remote's namespace.
    try:
        with network_namespace(world.machines["remote"].namespace_path):
            reply = agent.knock({"address": address, "port": SMTP_PORT, "timeout": timeout})["reply"]
    except OSError:
        return False
    return str(reply).startswith("open 220")


def _gateway_knows_home(world: World) -> bool:
    interface = world.view.gateway.interface
    code, output = world.machines["gateway"].execute(f"wg show {shlex.quote(interface)} endpoints")
    return code == 0 and bool(output.strip()) and "(none)" not in output


def ensure_tunnel(world: World, timeout: float = 90.0) -> None:
    """Make sure the tunnel works and the gateway knows home's endpoint.

    After a restart without the fix this may not be so for minutes: home then sends a few pings
    from its namespace, and WireGuard, seeing no answer, starts a new handshake (within ~15 s).
    """
    gateway_address = world.view.machine("gateway").address("ipv4")
    ping = in_home_namespace(world, f"ping -c 1 -W 1 {gateway_address} >/dev/null 2>&1 || true")

    def tunnel_works() -> bool:
        if _gateway_knows_home(world) and _home_reachable(world, 2.0):
            return True
        world.machines["home"].execute(ping)
        return False

    if poll(tunnel_works, timeout, 1.0):
        return
    raise BenchmarkError(f"the tunnel did not come back within {timeout:.0f} s")


@dataclass(frozen=True)
class Recovery:
    seconds: float  # from the restart command until remote gets home's SMTP greeting (or the bound)
    restart_seconds: float  # the stop + start itself
    recovered: bool


def _probe_recovery(world: World, started: float, restarted: float, bound: float) -> Recovery:
    """Probe home's public SMTP port from the remote every ~50 ms until it greets (or `bound`)."""

    def greeted() -> float | None:
        return time.perf_counter() if _home_reachable(world, 0.5) else None

    # The bound counts from `started`, before the restart.
    greeted_at = poll(greeted, bound - (time.perf_counter() - started), 0.05)
    if greeted_at is None:
        return Recovery(bound, restarted - started, False)
    return Recovery(greeted_at - started, restarted - started, True)


def recovery_after_gateway_restart(world: World, keep_endpoint: bool, bound: float) -> Recovery:
    """Stop and start the gateway's WireGuard interface unit; with `keep_endpoint` False, delete
    the saved endpoint in between (the fix disabled); then probe home's public SMTP port from the
    remote machine every ~0.5 s until it greets."""
    ensure_tunnel(world)
    unit = shlex.quote(world.view.gateway.interface_unit)
    memory = endpoint_memory_file(world)
    forget = f"rm -f {shlex.quote(memory)} && " if memory and not keep_endpoint else ""
    started = time.perf_counter()
    world.machines["gateway"].succeed(f"systemctl stop {unit} && {forget}systemctl start {unit}", timeout=60)
    restarted = time.perf_counter()
    return _probe_recovery(world, started, restarted, bound)


def recovery_after_gateway_crash(world: World, bound: float) -> Recovery:
    """Crash the gateway machine (no unit is stopped, so only the loop of `endpointMemory.unit`
    has saved home's endpoint) and boot it again; then probe as after a restart."""
    ensure_tunnel(world)
    memory = world.view.gateway.endpoint_memory
    gateway = world.machines["gateway"]
    # The file as the loop alone writes it: removed, then waited for (at most three intervals).
    gateway.succeed(f"rm -f {shlex.quote(str(memory['file']))}")
    gateway.wait_until_succeeds(
        f"grep -q ' ' {shlex.quote(str(memory['file']))}", timeout=3 * int(memory["saveInterval"])
    )
    started = time.perf_counter()
    gateway.crash()
    gateway.start()
    restarted = time.perf_counter()
    return _probe_recovery(world, started, restarted, bound)
