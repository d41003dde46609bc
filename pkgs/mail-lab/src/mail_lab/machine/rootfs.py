"""The lab machines' root filesystem: one Debian tree, built once and shared read-only.

The tree is built with debootstrap (a minimal bookworm with systemd) and then `apt-get install
--no-install-recommends` of `machine-packages.txt` inside it (debootstrap's own resolver cannot
choose among virtual packages). It is cached under `/var/cache/mail-lab/trees/<key>/tree`, where
the key is a digest of everything the build depends on (suite, mirror, package list, build
steps), so a changed package list builds a new tree and the old one is removed. A tree is only
used once its manifest is written, so an interrupted build is never mistaken for a finished one.

The tree boots only systemd's own units: the enablement links the daemons' packages add are
removed (the lab writes its own units, named as in NixOS), and the units a container has no use
for are masked.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from mail_lab.commands import environment
from mail_lab.errors import LabError
from mail_lab.polling import poll

CACHE_ENV = "MAIL_LAB_TREE_CACHE"
DEFAULT_CACHE = Path("/var/cache/mail-lab/trees")
PACKAGES_FILE = Path(__file__).resolve().parents[3] / "machine-packages.txt"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
SOURCES = (
    f"deb {MIRROR} {SUITE} main\n"
    f"deb {MIRROR} {SUITE}-updates main\n"
    f"deb http://deb.debian.org/debian-security {SUITE}-security main\n"
)
# What debootstrap installs itself; everything else comes from apt inside the tree.
BASE_PACKAGES = ("systemd", "systemd-sysv", "dbus")
# Units that fail or do nothing useful in a container on a read-only shared tree.
MASKED_UNITS = (
    "systemd-remount-fs.service",
    "systemd-user-sessions.service",
    "systemd-firstboot.service",
    "e2scrub_reap.service",
    "console-getty.service",
    "getty@.service",
    "apt-daily.timer",
    "apt-daily-upgrade.timer",
    "dpkg-db-backup.timer",
    "e2scrub_all.timer",
    "fstrim.timer",
)
# systemd's own generators a lab machine has no use for (NixOS has no SysV scripts).
MASKED_GENERATORS = ("systemd-sysv-generator",)
# Bump when the build steps below change in a way the other key parts do not show.
BUILD_STEPS_VERSION = "5"
MANIFEST = "manifest.json"
# Each package's programs, linked as <PACKAGE_PROGRAMS>/<package>/{bin,sbin}/<program>: what a
# service's `path` puts on its PATH (mail_lab.units.render), as a store path's bin/ on NixOS.
PACKAGE_PROGRAMS = "/usr/lib/mail-lab/packages"
PROGRAM_DIRECTORIES = {"/usr/bin": "bin", "/bin": "bin", "/usr/sbin": "sbin", "/sbin": "sbin"}
BUILD_TIMEOUT = 1800.0
LOCK_TIMEOUT = 1800.0
PROGRESS_INTERVAL = 5.0

Progress = Callable[[str], None]


class TreeError(LabError, RuntimeError):
    """The tree could not be built; the message names the failing step and its log."""


def print_progress(message: str) -> None:
    print(f"tree: {message}", file=sys.stderr, flush=True)


def read_package_list(path: Path = PACKAGES_FILE) -> list[str]:
    """The package names of `path`, one per line, `#` starting a comment."""
    names = [line.split("#", 1)[0].strip() for line in path.read_text().splitlines()]
    return [name for name in names if name]


@dataclass(frozen=True)
class TreeSpec:
    packages: tuple[str, ...]
    suite: str = SUITE
    mirror: str = MIRROR

    @classmethod
    def default(cls) -> TreeSpec:
        return cls(tuple(read_package_list()))

    @property
    def key(self) -> str:
        """A digest of everything the built tree depends on."""
        facts = {
            "suite": self.suite,
            "mirror": self.mirror,
            "sources": SOURCES,
            "base": BASE_PACKAGES,
            "packages": sorted(set(self.packages)),
            "masked": MASKED_UNITS,
            "steps": BUILD_STEPS_VERSION,
        }
        return hashlib.sha256(json.dumps(facts, sort_keys=True).encode()).hexdigest()[:16]


def cache_root() -> Path:
    return Path(os.environ.get(CACHE_ENV, str(DEFAULT_CACHE)))


@dataclass(frozen=True)
class Tree:
    """A finished tree: its root directory and what its manifest says."""

    root: Path
    key: str
    build_seconds: float
    packages: tuple[str, ...]


def _load(directory: Path) -> Tree | None:
    try:
        data = json.loads((directory / MANIFEST).read_text())
    except (OSError, ValueError):
        return None
    return Tree(directory / "tree", data["key"], float(data["build_seconds"]), tuple(data["packages"]))


def cached_tree(spec: TreeSpec, cache: Path | None = None) -> Tree | None:
    """The finished tree for `spec`, or None if it has not been built."""
    return _load((cache or cache_root()) / spec.key)


@contextlib.contextmanager
def _locked(cache: Path) -> Iterator[None]:
    """One builder per cache at a time (waits a bounded time for another one to finish)."""
    cache.mkdir(parents=True, exist_ok=True)
    with (cache / ".lock").open("w") as lock:

        def locked() -> bool:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return False
            return True

        if poll(locked, LOCK_TIMEOUT, 1.0) is None:
            raise TreeError(f"another build holds {cache / '.lock'} for too long")
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def ensure_tree(spec: TreeSpec | None = None, progress: Progress = print_progress) -> Tree:
    """The cached tree for `spec`, built first if needed (and older trees removed)."""
    spec = spec or TreeSpec.default()
    cache = cache_root()
    found = cached_tree(spec, cache)
    if found is not None:
        return found
    with _locked(cache):
        found = cached_tree(spec, cache)
        if found is not None:
            return found
        tree = _build(spec, cache, progress)
        _remove_other_trees(cache, keep=spec.key)
        return tree


def _remove_other_trees(cache: Path, keep: str) -> None:
    for entry in cache.iterdir():
        if entry.is_dir() and entry.name != keep and len(entry.name.split(".", 1)[0]) == len(keep):
            shutil.rmtree(entry, ignore_errors=True)


class _Step:
    """One build command, its output in the build log, its progress summarized on the way."""

    def __init__(self, log: Path, progress: Progress, started: float):
        self.log = log
        self.progress = progress
        self.started = started

    def run(self, title: str, argv: list[str], markers: dict[str, str]) -> None:
        """Run `argv`; report each marker's count (lines starting with it) every few seconds."""
        counts = dict.fromkeys(markers.values(), 0)
        self.progress(f"{title} ({self._elapsed()})")
        last = time.monotonic()
        deadline = last + BUILD_TIMEOUT
        with self.log.open("a") as log:
            log.write(f"$ {' '.join(argv)}\n")
            log.flush()
            process = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
                env=environment({"DEBIAN_FRONTEND": "noninteractive"}),
                cwd="/",
            )
            assert process.stdout is not None
            for line in process.stdout:
                log.write(line)
                for marker, label in markers.items():
                    if line.startswith(marker):
                        counts[label] += 1
                now = time.monotonic()
                if now - last >= PROGRESS_INTERVAL:
                    last = now
                    done = ", ".join(f"{count} {label}" for label, count in counts.items() if count)
                    self.progress(f"  {done or 'working'} ({self._elapsed()})")
                if now > deadline:
                    process.kill()
            code = process.wait(timeout=60)
        if code != 0:
            raise TreeError(f"{title} failed (exit code {code}); see {self.log}")

    def _elapsed(self) -> str:
        return f"{time.monotonic() - self.started:.0f} s"


DEBOOTSTRAP_MARKERS = {
    "I: Retrieving": "retrieved",
    "I: Unpacking": "unpacked",
    "I: Configuring": "configured",
}
APT_MARKERS = {"Get:": "downloaded", "Unpacking ": "unpacked", "Setting up ": "set up"}


def _in_tree(root: Path, *argv: str) -> list[str]:
    """`argv` run inside the tree, with /proc, /sys and /dev as a container has them."""
    return ["systemd-nspawn", "-q", "-D", str(root), "--register=no", "--keep-unit", "--pipe", "--", *argv]


def _unit_config_entries(root: Path) -> set[Path]:
    """Everything under the tree's /etc/systemd/system (enablement links, aliases, their folders)."""
    return {entry.relative_to(root) for entry in (root / "etc/systemd/system").rglob("*")}


def _build(spec: TreeSpec, cache: Path, progress: Progress) -> Tree:
    for program, package in (("debootstrap", "debootstrap"), ("systemd-nspawn", "systemd-container")):
        if shutil.which(program) is None:
            raise TreeError(f"{program} not found: apt-get install --no-install-recommends {package}")
    started = time.monotonic()
    work = cache / f"{spec.key}.build-{os.getpid()}"
    shutil.rmtree(work, ignore_errors=True)
    root = work / "tree"
    work.mkdir(parents=True)
    step = _Step(work / "build.log", progress, started)
    progress(f"building the machines' root filesystem {spec.key} in {cache} (the first build takes 1-3 min)")
    step.run(
        "debootstrap: a minimal Debian with systemd",
        [
            "debootstrap",
            "--variant=minbase",
            f"--include={','.join(BASE_PACKAGES)}",
            spec.suite,
            str(root),
            spec.mirror,
        ],
        DEBOOTSTRAP_MARKERS,
    )
    systemd_own = _unit_config_entries(root)
    (root / "etc/apt/sources.list").write_text(SOURCES)
    # Installed daemons must not start inside the build; the lab starts its own units.
    policy = root / "usr/sbin/policy-rc.d"
    policy.write_text("#!/bin/sh\nexit 101\n")
    policy.chmod(0o755)
    preseed = root / "tmp/preseed"
    preseed.write_text("postfix postfix/main_mailer_type select No configuration\n")
    step.run("apt-get update", _in_tree(root, "apt-get", "update", "-q"), APT_MARKERS)
    step.run("debconf", _in_tree(root, "debconf-set-selections", "/tmp/preseed"), {})
    packages = sorted(set(spec.packages) - set(BASE_PACKAGES))
    step.run(
        f"apt-get install: {len(packages)} packages and their dependencies",
        _in_tree(root, "apt-get", "install", "-y", "-q", "--no-install-recommends", *packages),
        APT_MARKERS,
    )
    step.run("apt-get clean", _in_tree(root, "apt-get", "clean"), {})
    _finish(root, systemd_own)
    build_seconds = time.monotonic() - started
    manifest = {"key": spec.key, "packages": list(spec.packages), "build_seconds": round(build_seconds, 1)}
    (work / MANIFEST).write_text(json.dumps(manifest, indent=1))
    final = cache / spec.key
    shutil.rmtree(final, ignore_errors=True)
    work.rename(final)
    progress(f"root filesystem ready in {build_seconds:.0f} s: {final / 'tree'}")
    tree = _load(final)
    assert tree is not None
    return tree


def _finish(root: Path, systemd_own: set[Path]) -> None:
    """Make the tree boot only systemd's own units, as a container with an identity per machine."""
    (root / "usr/sbin/policy-rc.d").unlink()
    (root / "tmp/preseed").unlink()
    # Deepest first, so that a folder the packages added is empty when its turn comes.
    for entry in sorted(_unit_config_entries(root) - systemd_own, key=lambda p: len(p.parts), reverse=True):
        path = root / entry
        if path.is_dir() and not path.is_symlink():
            path.rmdir()
        else:
            path.unlink()
    units = root / "etc/systemd/system"
    for unit in MASKED_UNITS:
        for link in units.glob(f"*.wants/{unit}"):
            link.unlink()
        (units / unit).unlink(missing_ok=True)
        (units / unit).symlink_to("/dev/null")
    shutil.rmtree(root / "var/lib/apt/lists", ignore_errors=True)
    (root / "var/lib/apt/lists/partial").mkdir(parents=True)
    _mask_package_generators(root)
    _link_programs(root)
    # Empty: each machine's systemd gets its own machine ID at boot.
    (root / "etc/machine-id").write_text("")
    (root / "etc/hostname").unlink(missing_ok=True)


def _mask_package_generators(root: Path) -> None:
    """Generators of the daemons' packages (e.g. postfix's, which starts postfix@-.service) and the
    SysV one (units from /etc/init.d) start what no unit of the lab asks for: masked, as NixOS has
    neither."""
    listed = (root / "var/lib/dpkg/info/systemd.list").read_text().splitlines()
    own = {os.path.basename(path) for path in listed if "/systemd/system-generators/" in path}
    masked = root / "etc/systemd/system-generators"
    masked.mkdir(parents=True, exist_ok=True)
    for directory in ("usr/lib/systemd/system-generators", "lib/systemd/system-generators"):
        for generator in sorted((root / directory).glob("*")):
            if generator.name not in own or generator.name in MASKED_GENERATORS:
                link = masked / generator.name
                if not link.is_symlink():
                    link.symlink_to("/dev/null")


def _link_programs(root: Path) -> None:
    farm = root / PACKAGE_PROGRAMS.lstrip("/")
    for listing in sorted((root / "var/lib/dpkg/info").glob("*.list")):
        package = listing.stem.split(":", 1)[0]
        for line in listing.read_text().splitlines():
            directory, program = os.path.split(line)
            kind = PROGRAM_DIRECTORIES.get(directory)
            target = root / line.lstrip("/")
            if kind is None or not program or not (target.is_file() or target.is_symlink()):
                continue
            link = farm / package / kind / program
            link.parent.mkdir(parents=True, exist_ok=True)
            if not link.is_symlink():
                link.symlink_to(line)


def tree_packages(tree: Path) -> frozenset[str]:
    """The packages whose programs the tree links for `path` (see PACKAGE_PROGRAMS)."""
    farm = tree / PACKAGE_PROGRAMS.lstrip("/")
    return frozenset(entry.name for entry in farm.iterdir()) if farm.is_dir() else frozenset()
