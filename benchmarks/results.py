"""Figures, their min/median/max, the machine they were measured on, and the three result files.

Nothing here needs the lab: `write_results` turns a `Results` into `<stem>.json`, `<stem>.md` (the
table the top-level README shows) and `<stem>.png` (one panel per group of figures: the median as a
bar, min..max as the whisker, the goal as a red mark).
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import statistics
import subprocess
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import matplotlib

matplotlib.use("Agg")  # files only, never a display

from matplotlib import pyplot

Comparison = Literal["<=", ">="]
RESULT_FILES = ("json", "md", "png")
BAR_COLOR = "#4c72b0"
DIRECT_COLOR = "#9aa9c4"  # the direct path (no gateway, no tunnel), for comparison
GOAL_COLOR = "#c44e52"


@dataclass(frozen=True)
class Goal:
    """A target to approach (never asserted): the median should be `op` `limit`."""

    op: Comparison
    limit: float

    def met_by(self, value: float) -> bool:
        return value <= self.limit if self.op == "<=" else value >= self.limit

    def text(self) -> str:
        return f"{'≤' if self.op == '<=' else '≥'} {self.limit:g}"


@dataclass(frozen=True)
class Summary:
    minimum: float
    median: float
    maximum: float
    runs: int
    # Runs that did not finish within the figure's bound (their value is the bound).
    at_bound: int


@dataclass
class Figure:
    key: str
    title: str
    unit: str
    group: str
    values: list[float] = field(default_factory=list)
    goal: Goal | None = None
    # A value >= bound means "not within the bound": the measurement gave up there.
    bound: float | None = None
    note: str = ""

    def add(self, value: float) -> None:
        self.values.append(float(value))

    def summary(self) -> Summary | None:
        if not self.values:
            return None
        at_bound = sum(1 for v in self.values if self.bound is not None and v >= self.bound)
        return Summary(
            min(self.values), statistics.median(self.values), max(self.values), len(self.values), at_bound
        )

    def shown(self, value: float) -> str:
        """A value as the table shows it: a run that reached the bound is "> bound"."""
        if self.bound is not None and value >= self.bound:
            return f"> {format_value(self.bound)}"
        return format_value(value)

    def goal_status(self) -> str:
        summary = self.summary()
        if self.goal is None:
            return ""
        if summary is None:
            return f"{self.goal.text()}: not measured"
        censored = self.bound is not None and summary.median >= self.bound
        met = self.goal.met_by(summary.median) and not (censored and self.goal.op == "<=")
        return f"{self.goal.text()}: {'met' if met else 'not met'}"

    def to_json(self) -> dict[str, Any]:
        summary = self.summary()
        return {
            "key": self.key,
            "title": self.title,
            "unit": self.unit,
            "group": self.group,
            "values": self.values,
            "min": summary.minimum if summary else None,
            "median": summary.median if summary else None,
            "max": summary.maximum if summary else None,
            "runs": summary.runs if summary else 0,
            "at_bound": summary.at_bound if summary else 0,
            "bound": self.bound,
            "goal": {"op": self.goal.op, "limit": self.goal.limit} if self.goal else None,
            "goal_status": self.goal_status(),
            "note": self.note,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Figure:
        goal = data.get("goal")
        return cls(
            key=str(data["key"]),
            title=str(data["title"]),
            unit=str(data["unit"]),
            group=str(data["group"]),
            values=[float(v) for v in data.get("values", [])],
            goal=Goal(goal["op"], float(goal["limit"])) if goal else None,
            bound=None if data.get("bound") is None else float(data["bound"]),
            note=str(data.get("note", "")),
        )


@dataclass
class Results:
    machine: dict[str, Any]
    settings: dict[str, Any]
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    started: str = ""
    finished: str = ""
    complete: bool = False

    def figure(
        self,
        key: str,
        title: str,
        unit: str,
        group: str,
        *,
        goal: Goal | None = None,
        bound: float | None = None,
        note: str = "",
    ) -> Figure:
        """The figure named `key`, created (in table order) on first use."""
        for existing in self.figures:
            if existing.key == key:
                return existing
        created = Figure(key, title, unit, group, goal=goal, bound=bound, note=note)
        self.figures.append(created)
        return created

    def to_json(self) -> dict[str, Any]:
        return {
            "started": self.started,
            "finished": self.finished,
            "complete": self.complete,
            "machine": self.machine,
            "settings": self.settings,
            "notes": self.notes,
            "figures": [figure.to_json() for figure in self.figures],
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Results:
        return cls(
            machine=dict(data["machine"]),
            settings=dict(data["settings"]),
            figures=[Figure.from_json(f) for f in data["figures"]],
            notes=[str(n) for n in data.get("notes", [])],
            started=str(data.get("started", "")),
            finished=str(data.get("finished", "")),
            complete=bool(data.get("complete", False)),
        )


def now() -> str:
    return datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def format_value(value: float) -> str:
    """Three significant digits or so; no scientific notation."""
    magnitude = abs(value)
    if magnitude >= 100:
        return f"{value:.0f}"
    if magnitude >= 10:
        return f"{value:.1f}"
    if magnitude >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"


# --- the machine ---------------------------------------------------------------------------------


def _first_line(argv: list[str]) -> str:
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=20, check=False)
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    text = (result.stdout or result.stderr).strip()
    return text.splitlines()[0].strip() if text else "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _os_name() -> str:
    try:
        for line in Path("/etc/os-release").read_text().splitlines():
            if line.startswith("PRETTY_NAME="):
                return line.split("=", 1)[1].strip().strip('"')
    except OSError:
        pass
    return platform.system()


def _memory_gib() -> float:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return round(int(line.split()[1]) / 1024 / 1024, 1)
    except (OSError, ValueError):
        pass
    return 0.0


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def machine_info() -> dict[str, Any]:
    """What the figures depend on: CPU, cores, kernel, OS, memory, date, daemon versions."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count() or 0,
        "kernel": platform.release(),
        "os": _os_name(),
        "memory_gib": _memory_gib(),
        "date": now(),
        "python": platform.python_version(),
        "load_average_at_start": load_average(),
        "versions": {
            "postfix": _first_line(["postconf", "-h", "mail_version"]),
            "rspamd": _first_line(["rspamd", "--version"]),
            "dovecot": _first_line(["dovecot", "--version"]),
            "wireguard-go": _first_line(["wireguard-go", "--version"]),
            "iperf3": _first_line(["iperf3", "--version"]),
            "nix": _first_line(["nix-instantiate", "--version"]),
        },
    }


def machine_line(machine: dict[str, Any]) -> str:
    return (
        f"{machine.get('cpu', 'unknown CPU')}, {machine.get('cores', '?')} cores, "
        f"{machine.get('memory_gib', '?')} GiB, Linux {machine.get('kernel', '?')}, "
        f"{machine.get('os', '?')}"
    )


# --- the files -----------------------------------------------------------------------------------


def _load_averages(machine: dict[str, Any]) -> str:
    start, end = machine.get("load_average_at_start"), machine.get("load_average_at_end")
    if start is None:
        return "load average not recorded"
    return f"load average {start} at the start, {end if end is not None else '?'} at the end"


def markdown(results: Results) -> str:
    machine = results.machine
    settings = results.settings
    lines = [
        f"Measured {results.started or machine.get('date', '?')} on {machine_line(machine)}"
        f" ({_load_averages(machine)}),"
        f" {settings.get('runs', '?')} runs per figure"
        + (" (quick mode: smaller loads)" if settings.get("quick") else "")
        + ("." if results.complete else "; **incomplete run**."),
        "",
        "| figure | unit | min | median | max | runs | goal |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for figure in results.figures:
        summary = figure.summary()
        if summary is None:
            cells = ["-", "-", "-", "0"]
        else:
            cells = [
                figure.shown(summary.minimum),
                figure.shown(summary.median),
                figure.shown(summary.maximum),
                str(summary.runs),
            ]
        lines.append(
            f"| {figure.title} | {figure.unit} | " + " | ".join(cells) + f" | {figure.goal_status()} |"
        )
    if results.notes:
        lines.append("")
        lines += [f"- {note}" for note in results.notes]
    return "\n".join(lines) + "\n"


def plot(results: Results, path: Path) -> None:
    """One horizontal-bar panel per group: median bars, min..max whiskers, goals in red."""
    groups: dict[str, list[Figure]] = {}
    for figure in results.figures:
        if figure.summary() is not None:
            groups.setdefault(figure.group, []).append(figure)
    heights = [max(1.2, 0.45 * len(figures) + 0.7) for figures in groups.values()] or [1.0]
    fig, axes = pyplot.subplots(
        len(heights),
        1,
        figsize=(10, sum(heights) + 0.8),
        gridspec_kw={"height_ratios": heights},
        squeeze=False,
    )
    for axis, (group, figures) in zip(axes[:, 0], groups.items(), strict=False):
        summaries = [f.summary() for f in figures]
        medians = [s.median for s in summaries if s is not None]
        lows = [s.median - s.minimum for s in summaries if s is not None]
        highs = [s.maximum - s.median for s in summaries if s is not None]
        positions = list(range(len(figures)))
        colors = [DIRECT_COLOR if ".direct" in f.key else BAR_COLOR for f in figures]
        axis.barh(positions, medians, xerr=[lows, highs], color=colors, ecolor="#333333", capsize=3)
        for position, figure, median in zip(positions, figures, medians, strict=True):
            if figure.goal is not None:
                axis.plot([figure.goal.limit] * 2, [position - 0.4, position + 0.4], color=GOAL_COLOR, lw=2)
            axis.annotate(
                figure.shown(median),
                (median, position),
                xytext=(4, -9),
                textcoords="offset points",
                fontsize=7,
            )
        axis.set_yticks(positions, [f.title for f in figures], fontsize=8)
        axis.invert_yaxis()
        axis.set_title(f"{group} ({figures[0].unit})", fontsize=9, loc="left")
        axis.tick_params(axis="x", labelsize=8)
        axis.grid(axis="x", alpha=0.3)
    if not groups:
        axes[0, 0].text(0.5, 0.5, "no figures", ha="center", va="center")
    fig.suptitle(
        f"home-mail lab benchmarks, {results.started}: median (labelled), min..max;"
        " red: goal; light: direct path",
        fontsize=10,
    )
    fig.text(0.01, 0.005, machine_line(results.machine), fontsize=7)
    fig.tight_layout(rect=(0, 0.02, 1, 0.97))
    fig.savefig(path, dpi=110, format="png")
    pyplot.close(fig)


def _replace(path: Path, write: Callable[[Path], object]) -> None:
    """Write through `<path>.tmp` and rename, so a reader never sees half a file."""
    temporary = path.with_name(path.name + ".tmp")
    write(temporary)
    temporary.replace(path)


def write_results(results: Results, directory: Path, stem: str = "latest") -> dict[str, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    paths = {kind: directory / f"{stem}.{kind}" for kind in RESULT_FILES}
    text = json.dumps(results.to_json(), indent=1, ensure_ascii=False) + "\n"
    _replace(paths["json"], lambda p: p.write_text(text))
    _replace(paths["md"], lambda p: p.write_text(markdown(results)))
    _replace(paths["png"], lambda p: plot(results, p))
    return paths
