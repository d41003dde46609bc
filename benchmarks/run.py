"""Measure on the lab and write benchmarks/results/latest.{json,md,png}.

    sudo .venv/bin/python -m benchmarks [--runs 5] [--quick] [--only mail,tcp,...]

Phases (all by default, in this order):
  mail      on one lab with a direct link (direct_link.py) beside the tunnel: bursts of small and of
            10 MB messages and the latency of single messages, tunnel and direct alternating
  tcp       iperf3 through the tunnel and direct, IPv4 and IPv6; wireguard-go CPU per GB
  recovery  gateway restarts with and without the fix (the gateway's saved endpoint of home)
  lab       bring-up, the scenario suite, teardown, each run on a fresh lab
  nix       evaluation of the plans (tests/topology.nix)
  containers  five lab machines as systemd-nspawn containers: boot, idle CPU, power-off; the tree's build
  doctor    home-mail-doctor's whole run on a fresh lab's home and gateway
The lab's own output goes to a log file (--log), progress to stdout. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TextIO

from benchmarks import containers, measure, recovery
from benchmarks.direct_link import DirectLink, direct_link
from benchmarks.figures import DOCTOR_ROLES, PATHS, PHASES, Burst, Settings, register_figures
from benchmarks.results import Results, load_average, machine_info, markdown, now, write_results
from mail_lab.lab.world import World

RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_PREFIX = "mbn-"


def progress(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def _add(results: Results, key: str, value: float) -> None:
    for figure in results.figures:
        if figure.key == key:
            figure.add(value)
            return
    raise KeyError(key)


def _ordered(run: int) -> tuple[str, ...]:
    """Tunnel first on even runs, direct first on odd ones (neither always gets the warm caches)."""
    return PATHS if run % 2 == 0 else PATHS[::-1]


def _burst_seconds(
    settings: Settings,
    world: World,
    mailbox: measure.Mailbox,
    targets: dict[str, tuple[str, str]],
    *,
    paths: tuple[str, ...],
    burst: Burst,
) -> dict[str, float]:
    """Seconds `burst` takes to reach the mailbox over each of `paths` (IPv4), in that order."""
    return {
        path: measure.mail_burst(
            world,
            mailbox,
            address=targets[path][0],
            count=burst.count,
            size=burst.size,
            sessions=burst.sessions,
            bound=settings.mail_bound,
        )
        for path in paths
    }


def measure_mail(
    results: Results, settings: Settings, world: World, targets: dict[str, tuple[str, str]]
) -> None:
    mailbox = measure.Mailbox(world.machines["home"], measure.MailIdentity.of(world).recipient)
    # Warm up both paths (DNS caches, rspamd's and postfix's processes): not recorded.
    warm_up = Burst(count=20, size=settings.small.size, sessions=2, amount=20)
    _burst_seconds(settings, world, mailbox, targets, paths=PATHS, burst=warm_up)
    bursts = {"small": settings.small, "large": settings.large}
    for run in range(settings.runs):
        rates: dict[str, dict[str, float]] = {}
        for kind, burst in bursts.items():
            seconds = _burst_seconds(settings, world, mailbox, targets, paths=_ordered(run), burst=burst)
            rates[kind] = {path: burst.amount / seconds[path] for path in PATHS}
            for path in PATHS:
                _add(results, f"mail.{kind}.{path}", rates[kind][path])
            _add(results, f"mail.{kind}.ratio", rates[kind]["tunnel"] / rates[kind]["direct"])
        small, large = rates["small"], rates["large"]
        for path in _ordered(run):
            latencies = measure.delivery_latencies(
                world, mailbox, targets[path][0], settings.latency_messages, bound=60.0
            )
            for percent in (50, 95):
                _add(results, f"latency.{path}.p{percent}", 1000 * measure.percentile(latencies, percent))
        progress(
            f"mail run {run + 1}/{settings.runs}: small {small['tunnel']:.0f} vs {small['direct']:.0f} msg/s,"
            f" 10 MB {large['tunnel']:.1f} vs {large['direct']:.1f} MB/s (tunnel vs direct)"
        )


def measure_tcp(
    results: Results, settings: Settings, world: World, targets: dict[str, tuple[str, str]]
) -> None:
    machines = {name: world.machines[name] for name in ("gateway", "home")}
    for run in range(settings.runs):
        cpu = dict.fromkeys(machines, 0.0)
        tunnel_bytes = 0
        summary = []
        for family_index, family in enumerate(("ipv4", "ipv6")):
            for path in _ordered(run):
                before = {name: measure.wireguard_cpu_seconds(m) for name, m in machines.items()}
                result = measure.tcp_throughput(world, targets[path][family_index], settings.iperf_seconds)
                if path == "tunnel":
                    for name, machine in machines.items():
                        cpu[name] += measure.wireguard_cpu_seconds(machine) - before[name]
                    tunnel_bytes += result.received_bytes
                _add(results, f"tcp.{family}.{path}", result.bits_per_second / 1e9)
                summary.append(f"{family} {path} {result.bits_per_second / 1e9:.2f}")
        for name in machines:
            _add(results, f"cpu.{name}", cpu[name] / (tunnel_bytes / 1e9))
        progress(f"tcp run {run + 1}/{settings.runs}: " + ", ".join(summary) + " Gbit/s")


def measure_recovery(results: Results, settings: Settings, world: World) -> None:
    has_fix = recovery.endpoint_memory_file(world) is not None
    if not has_fix:
        results.notes.append(
            "The gateway plan has no endpoint memory (the fix): recovery was measured without it only."
        )
    for run in range(settings.runs):
        modes = [True, False] if has_fix else [False]
        line = []
        for keep in modes if run % 2 == 0 else modes[::-1]:
            restart = recovery.recovery_after_gateway_restart(world, keep, settings.recovery_bound)
            _add(results, "recovery.fix" if keep else "recovery.nofix", restart.seconds)
            _add(results, "recovery.restart", restart.restart_seconds)
            state = (
                f"{restart.seconds:.1f} s"
                if restart.recovered
                else f"not within {settings.recovery_bound:.0f} s"
            )
            line.append(f"{'with' if keep else 'without'} the fix {state}")
        if has_fix:
            crash = recovery.recovery_after_gateway_crash(world, settings.recovery_bound)
            _add(results, "recovery.crash", crash.seconds)
            line.append(
                f"after a crash {crash.seconds:.1f} s"
                if crash.recovered
                else f"after a crash not within {settings.recovery_bound:.0f} s"
            )
        progress(f"recovery run {run + 1}/{settings.runs}: " + ", ".join(line))
    recovery.ensure_tunnel(world)


def measure_performance_lab(results: Results, settings: Settings) -> None:
    progress(f"bringing up the lab {settings.prefix!r} for mail, tcp and recovery")
    world = World.up(prefix=settings.prefix)
    try:
        public = measure.public_addresses(world)
        if "mail" in settings.phases or "tcp" in settings.phases:
            with direct_link(world) as link:
                targets = targets_of(public, link)
                progress(
                    f"direct link: {link.home_ipv4}, {link.home_ipv6} (tunnel: {public[0]}, {public[1]})"
                )
                if "mail" in settings.phases:
                    measure_mail(results, settings, world, targets)
                if "tcp" in settings.phases:
                    measure_tcp(results, settings, world, targets)
        if "recovery" in settings.phases:
            measure_recovery(results, settings, world)
    finally:
        world.down()


def targets_of(public: tuple[str, str], link: DirectLink) -> dict[str, tuple[str, str]]:
    return {"tunnel": public, "direct": (link.home_ipv4, link.home_ipv6)}


def measure_lab(results: Results, settings: Settings) -> None:
    scenario_seconds: dict[str, list[float]] = {}
    for run in range(settings.runs):
        cycle = measure.lab_cycle(settings.prefix)
        _add(results, "lab.up", cycle.up_seconds)
        _add(results, "lab.settled", cycle.settled_seconds)
        _add(results, "lab.suite", cycle.suite_seconds)
        _add(results, "lab.down", cycle.down_seconds)
        for name, seconds in cycle.scenario_seconds.items():
            scenario_seconds.setdefault(name, []).append(round(seconds, 3))
        progress(
            f"lab run {run + 1}/{settings.runs}: up {cycle.up_seconds:.1f} s"
            f" (ACME order done at {cycle.settled_seconds:.1f} s),"
            f" suite {cycle.suite_seconds:.1f} s, down {cycle.down_seconds:.1f} s"
        )
    results.settings["scenario_seconds"] = scenario_seconds


def measure_containers(results: Results, settings: Settings) -> None:
    _add(results, "containers.tree", containers.tree_build_seconds())
    for run in range(settings.runs):
        cycle = containers.container_cycle(settings.prefix)
        _add(results, "containers.boot", cycle.boot_seconds)
        _add(results, "containers.idle", cycle.idle_cpu_percent)
        _add(results, "containers.off", cycle.power_off_seconds)
        progress(
            f"containers run {run + 1}/{settings.runs}: boot {cycle.boot_seconds:.2f} s,"
            f" idle {cycle.idle_cpu_percent:.2f} % of a core, power-off {cycle.power_off_seconds:.2f} s"
        )


def measure_doctor(results: Results, settings: Settings) -> None:
    progress(f"bringing up the lab {settings.prefix!r} for the doctor")
    world = World.up(prefix=settings.prefix)
    try:
        # Not recorded: the runs until the report is healthy (the first loads Python and the
        # doctor's libraries from a cold cache; right after boot the gateway's endpoint file is
        # saved only after one save interval, and the doctor rightly calls it stale until then).
        settle = 3 * float(world.view.gateway.endpoint_memory["saveInterval"])
        for role in DOCTOR_ROLES:
            measure.doctor_until_healthy(world.machines[role], settle)
        exit_codes: dict[str, list[int]] = {role: [] for role in DOCTOR_ROLES}
        for run in range(settings.runs):
            line = []
            for role in DOCTOR_ROLES:
                timed = measure.doctor_run(world.machines[role])
                _add(results, f"doctor.{role}", timed.seconds)
                exit_codes[role].append(timed.exit_code)
                line.append(f"{role} {timed.seconds:.2f} s (exit {timed.exit_code})")
            progress(f"doctor run {run + 1}/{settings.runs}: " + ", ".join(line))
        results.settings["doctor_exit_codes"] = exit_codes
    finally:
        world.down()


def measure_nix(results: Results, settings: Settings) -> None:
    for _ in range(settings.runs):
        _add(results, "nix.eval", measure.nix_evaluation())
    progress("nix evaluation measured")


@contextlib.contextmanager
def lab_output(log: Path) -> Iterator[TextIO]:
    """The lab's chatter (subtests, machine logs) into `log`, not onto the terminal."""
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("w") as handle, contextlib.redirect_stderr(handle):
        yield handle


def parse_arguments(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=None, help="runs per figure (default 5; 2 with --quick)")
    parser.add_argument("--quick", action="store_true", help="smaller loads, for trying the benchmark out")
    parser.add_argument("--only", default="", help=f"comma-separated phases of {','.join(PHASES)}")
    parser.add_argument("--prefix", default=DEFAULT_PREFIX, help=f"lab prefix (default {DEFAULT_PREFIX})")
    parser.add_argument("--output", type=Path, default=RESULTS_DIR, help="where latest.{json,md,png} go")
    parser.add_argument(
        "--log", type=Path, default=Path("/tmp/mail-lab-benchmark.log"), help="the lab's output"
    )
    parser.add_argument(
        "--recovery-bound",
        type=float,
        default=None,
        help="seconds to wait for recovery (default 210; 60 quick)",
    )
    args = parser.parse_args(argv)
    unknown = [p for p in args.only.split(",") if p and p not in PHASES] if args.only else []
    if unknown:
        parser.error(f"unknown phase(s) {', '.join(unknown)}; choose from {', '.join(PHASES)}")
    if args.runs is not None and args.runs < 1:
        parser.error("--runs must be at least 1")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_arguments(argv)
    if os.geteuid() != 0:
        print("benchmarks: must run as root (the lab builds network namespaces)", file=sys.stderr)
        return 2
    settings = Settings.from_arguments(args)
    results = Results(machine=machine_info(), settings=asdict(settings), started=now())
    register_figures(results, settings)
    started = time.perf_counter()
    progress(
        f"benchmarks: phases {', '.join(settings.phases)}, {settings.runs} runs; lab output in {args.log}"
    )
    try:
        with lab_output(args.log):
            if {"mail", "tcp", "recovery"} & set(settings.phases):
                measure_performance_lab(results, settings)
            if "lab" in settings.phases:
                measure_lab(results, settings)
            if "nix" in settings.phases:
                measure_nix(results, settings)
            if "containers" in settings.phases:
                measure_containers(results, settings)
            if "doctor" in settings.phases:
                measure_doctor(results, settings)
        results.complete = True
    except BaseException as error:
        results.notes.append(f"The run stopped early: {type(error).__name__}: {error}")
        raise
    finally:
        results.finished = now()
        results.machine["load_average_at_end"] = load_average()
        results.settings["duration_seconds"] = round(time.perf_counter() - started, 1)
        paths = write_results(results, args.output)
        progress("wrote " + ", ".join(str(p) for p in paths.values()))
    print(markdown(results), end="")
    return 0
