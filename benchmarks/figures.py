"""What the benchmarks measure: the settings of a run (from the command line) and every figure of
the selected phases, with its unit, group and goal, in table order."""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from benchmarks.results import Goal, Results

PHASES = ("mail", "tcp", "recovery", "lab", "nix", "containers", "doctor")
MB = 1_000_000
PATHS = ("tunnel", "direct")
FAMILY_NAMES = {"ipv4": "IPv4", "ipv6": "IPv6"}
DOCTOR_ROLES = ("home", "gateway")


@dataclass(frozen=True)
class Burst:
    """One load of the mail figures: `count` messages of `size` bytes over `sessions` SMTP
    sessions; `amount` is what one burst moves in the figure's unit (messages, MB)."""

    count: int
    size: int
    sessions: int
    amount: float


@dataclass(frozen=True)
class Settings:
    runs: int
    quick: bool
    prefix: str
    phases: tuple[str, ...]
    # The loads of the mail.small.* (messages/s) and mail.large.* (MB/s) figures.
    small: Burst
    large: Burst
    latency_messages: int
    iperf_seconds: int
    mail_bound: float
    recovery_bound: float

    @classmethod
    def from_arguments(cls, args: argparse.Namespace) -> Settings:
        phases = tuple(p for p in PHASES if p in args.only.split(",")) if args.only else PHASES
        quick = bool(args.quick)
        small_messages = 100 if quick else 500
        large_messages, large_size = (3 if quick else 10), 10 * MB
        return cls(
            runs=args.runs if args.runs is not None else (2 if quick else 5),
            quick=quick,
            prefix=args.prefix,
            phases=phases,
            small=Burst(count=small_messages, size=2000, sessions=10, amount=small_messages),
            large=Burst(
                count=large_messages, size=large_size, sessions=2, amount=large_messages * large_size / MB
            ),
            latency_messages=10 if quick else 20,
            iperf_seconds=2 if quick else 5,
            mail_bound=300.0,
            recovery_bound=args.recovery_bound
            if args.recovery_bound is not None
            else (60.0 if quick else 210.0),
        )


def register_figures(results: Results, settings: Settings) -> None:
    """Every figure of the selected phases, in table order (also those a failed run leaves empty)."""
    small = f"{settings.small.size / 1000:.0f} KB"
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
        results.figure("lab.settled", "lab bring-up and the boot-time ACME order", "s", "lab")
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
    if "doctor" in settings.phases:
        for role in DOCTOR_ROLES:
            results.figure(
                f"doctor.{role}", f"home-mail-doctor, every check, {role}", "s", "doctor", goal=Goal("<=", 10)
            )
