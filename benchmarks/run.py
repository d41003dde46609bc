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
The lab's own output goes to a log file (--log), progress to stdout. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TextIO

from benchmarks import containers, measure
from benchmarks.direct_link import DirectLink, direct_link
from benchmarks.results import Goal, Results, load_average, machine_info, markdown, now, write_results
from mail_lab.world import World, machine_kind

PHASES = ("mail", "tcp", "recovery", "lab", "nix", "containers")
RESULTS_DIR = Path(__file__).resolve().parent / "results"
DEFAULT_PREFIX = "mbn-"
MB = 1_000_000
PATHS = ("tunnel", "direct")
FAMILY_NAMES = {"ipv4": "IPv4", "ipv6": "IPv6"}


@dataclass(frozen=True)
class Settings:
    runs: int
    quick: bool
    prefix: str
    phases: tuple[str, ...]
    small_messages: int
    small_bytes: int
    small_sessions: int
    large_messages: int
    large_bytes: int
    large_sessions: int
    latency_messages: int
    iperf_seconds: int
    mail_bound: float
    recovery_bound: float

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> Settings:
        phases = tuple(p for p in PHASES if p in args.only.split(",")) if args.only else PHASES
        quick = bool(args.quick)
        return cls(
            runs=args.runs if args.runs is not None else (2 if quick else 5),
            quick=quick,
            prefix=args.prefix,
            phases=phases,
            small_messages=100 if quick else 500,
            small_bytes=2000,
            small_sessions=10,
            large_messages=3 if quick else 10,
            large_bytes=10 * MB,
            large_sessions=2,
            latency_messages=10 if quick else 20,
            iperf_seconds=2 if quick else 5,
            mail_bound=300.0,
            recovery_bound=args.recovery_bound
            if args.recovery_bound is not None
            else (60.0 if quick else 210.0),
        )


def register_figures(results: Results, settings: Settings) -> None:
    """Every figure of the selected phases, in table order (also those a failed run leaves empty)."""
    small = f"{settings.small_bytes / 1000:.0f} KB"
    ratio_goal = Goal(">=", 0.9)
    if "mail" in settings.phases:
        for path in PATHS:
            results.figure(
                f"mail.small.{path}", f"mail, {small} messages, {path}", "msg/s", "mail, small messages"
            )
        for path in PATHS:
            results.figure(
                f"mail.large.{path}", f"mail, 10 MB messages, {path}", "MB/s", "mail, 10 MB messages"
            )
        results.figure(
            "mail.small.ratio",
            f"mail, {small} messages, tunnel / direct",
            "ratio",
            "tunnel / direct",
            goal=ratio_goal,
        )
        results.figure(
            "mail.large.ratio",
            "mail, 10 MB messages, tunnel / direct",
            "ratio",
            "tunnel / direct",
            goal=ratio_goal,
        )
        for path in PATHS:
            for percent in (50, 95):
                results.figure(
                    f"latency.{path}.p{percent}",
                    f"one message, submission to mailbox, {path}, p{percent}",
                    "ms",
                    "latency",
                )
    if "tcp" in settings.phases:
        for family in ("ipv4", "ipv6"):
            for path in PATHS:
                results.figure(
                    f"tcp.{family}.{path}",
                    f"TCP (iperf3), {FAMILY_NAMES[family]}, {path}",
                    "Gbit/s",
                    "TCP throughput",
                )
        for machine in ("gateway", "home"):
            results.figure(
                f"cpu.{machine}", f"wireguard-go CPU per GB through the tunnel, {machine}", "s/GB", "CPU"
            )
    if "recovery" in settings.phases:
        bound = settings.recovery_bound
        results.figure(
            "recovery.fix",
            "recovery after a gateway restart, with the fix (saved endpoint)",
            "s",
            "recovery",
            goal=Goal("<=", 5),
            bound=bound,
        )
        results.figure(
            "recovery.nofix",
            "recovery after a gateway restart, without the fix",
            "s",
            "recovery",
            goal=Goal("<=", 5),
            bound=bound,
        )
        results.figure("recovery.restart", "the gateway restart itself (stop + start)", "s", "recovery")
        results.figure(
            "recovery.crash",
            "recovery after a gateway crash and boot (endpoint saved while it ran)",
            "s",
            "recovery",
            goal=Goal("<=", 5),
            bound=bound,
        )
    if "lab" in settings.phases:
        results.figure("lab.up", "lab bring-up (all daemons)", "s", "lab", goal=Goal("<=", 5))
        results.figure("lab.suite", "scenario suite", "s", "lab", goal=Goal("<=", 60))
        results.figure("lab.down", "lab teardown", "s", "lab")
    if "nix" in settings.phases:
        results.figure("nix.eval", "Nix plan evaluation (tests/topology.nix)", "s", "lab")
    if "containers" in settings.phases:
        results.figure("containers.tree", "machines' root filesystem, first build", "s", "containers")
        results.figure(
            "containers.boot",
            "5 containers booting systemd, in parallel",
            "s",
            "containers",
            goal=Goal("<=", 5),
        )
        results.figure("containers.idle", "5 idle containers, CPU", "% of a core", "containers")
        results.figure("containers.off", "5 containers powering off, in parallel", "s", "containers")


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


@dataclass(frozen=True)
class Burst:
    """One load of the mail figures: `count` messages of `size` bytes over `sessions` SMTP
    sessions; `amount` is what one burst moves in the figure's unit (messages, MB)."""

    count: int
    size: int
    sessions: int
    amount: float


def mail_bursts(settings: Settings) -> dict[str, Burst]:
    """The loads of the `mail.<kind>.*` figures."""
    return {
        "small": Burst(
            settings.small_messages, settings.small_bytes, settings.small_sessions, settings.small_messages
        ),
        "large": Burst(
            settings.large_messages,
            settings.large_bytes,
            settings.large_sessions,
            settings.large_messages * settings.large_bytes / MB,
        ),
    }


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
    warm_up = Burst(count=20, size=settings.small_bytes, sessions=2, amount=20)
    _burst_seconds(settings, world, mailbox, targets, paths=PATHS, burst=warm_up)
    bursts = mail_bursts(settings)
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
    has_fix = measure.endpoint_memory_file(world) is not None
    if not has_fix:
        results.notes.append(
            "The gateway plan has no endpoint memory (the fix): recovery was measured without it only."
        )
    for run in range(settings.runs):
        modes = [True, False] if has_fix else [False]
        line = []
        for keep in modes if run % 2 == 0 else modes[::-1]:
            recovery = measure.recovery_after_gateway_restart(world, keep, settings.recovery_bound)
            _add(results, "recovery.fix" if keep else "recovery.nofix", recovery.seconds)
            _add(results, "recovery.restart", recovery.restart_seconds)
            state = (
                f"{recovery.seconds:.1f} s"
                if recovery.recovered
                else f"not within {settings.recovery_bound:.0f} s"
            )
            line.append(f"{'with' if keep else 'without'} the fix {state}")
        if has_fix:
            crash = measure.recovery_after_gateway_crash(world, settings.recovery_bound)
            _add(results, "recovery.crash", crash.seconds)
            line.append(
                f"after a crash {crash.seconds:.1f} s"
                if crash.recovered
                else f"after a crash not within {settings.recovery_bound:.0f} s"
            )
        progress(f"recovery run {run + 1}/{settings.runs}: " + ", ".join(line))
    measure.ensure_tunnel(world)


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
        _add(results, "lab.suite", cycle.suite_seconds)
        _add(results, "lab.down", cycle.down_seconds)
        for name, seconds in cycle.scenario_seconds.items():
            scenario_seconds.setdefault(name, []).append(round(seconds, 3))
        progress(
            f"lab run {run + 1}/{settings.runs}: up {cycle.up_seconds:.1f} s,"
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
        print("benchmarks: must run as root (the lab builds network namespaces): use sudo", file=sys.stderr)
        return 2
    settings = Settings.from_arguments(args)
    # What the lab's machines are (MAIL_LAB_MACHINES): the figures depend on it.
    results = Results(
        machine=machine_info(), settings={**asdict(settings), "machines": machine_kind()}, started=now()
    )
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
