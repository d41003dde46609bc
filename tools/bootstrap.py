#!/usr/bin/env python3
"""Set up a fresh Debian 12 machine for the lab, then run the demo or the whole test suite.

    python3 tools/bootstrap.py demo   # as root; install what is missing, run `mail-lab demo`
    python3 tools/bootstrap.py test   # as root; install what is missing, run every test

Standard library only: this runs before the project's virtual environment exists.
Installs Debian packages with --no-install-recommends (without starting their daemons: the lab
runs its own copies inside network namespaces) and a virtual environment in .venv.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
VENV = REPO / ".venv"
LAB_PACKAGE = REPO / "pkgs" / "mail-lab"
DOCTOR_PACKAGE = REPO / "pkgs" / "home-mail-doctor"
DEBIAN_PACKAGES_FILE = LAB_PACKAGE / "debian-packages.txt"
POLICY_RC_D = Path("/usr/sbin/policy-rc.d")
# The test run's junit XML: `python -m benchmarks suite` makes benchmarks/results/suite of it.
SUITE_REPORT = "/tmp/mail-lab-suite.xml"
# Debian's nix-bin names a build group that does not exist; the tests only evaluate.
NIX_CONFIG = "build-users-group =\n"


class BootstrapError(Exception):
    """A problem the user can fix; printed as one line, without a traceback."""


def run(argv: list[str], *, env: dict[str, str] | None = None, stdin: bytes | None = None) -> None:
    print("+", " ".join(argv), flush=True)
    result = subprocess.run(argv, check=False, env=env, input=stdin)
    if result.returncode != 0:
        raise BootstrapError(f"command failed with exit code {result.returncode}: {' '.join(argv)}")


def debian_packages() -> list[str]:
    lines = DEBIAN_PACKAGES_FILE.read_text().splitlines()
    return [line.split("#", 1)[0].strip() for line in lines if line.split("#", 1)[0].strip()]


def missing_packages(packages: list[str]) -> list[str]:
    query = subprocess.run(
        ["dpkg-query", "-W", "-f", "${Package} ${db:Status-Status}\n", *packages],
        capture_output=True,
        text=True,
        check=False,
    )
    installed = {line.split()[0] for line in query.stdout.splitlines() if line.endswith(" installed")}
    return [package for package in packages if package not in installed]


def install_debian_packages() -> None:
    missing = missing_packages(debian_packages())
    if not missing:
        return
    print(f"Installing Debian packages: {' '.join(missing)}", flush=True)
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    # Postfix asks how to configure itself; the lab writes its own configuration.
    run(["debconf-set-selections"], stdin=b"postfix postfix/main_mailer_type select No configuration\n")
    made_policy = not POLICY_RC_D.exists()
    if made_policy:
        # Keep the freshly installed daemons from starting on the host: only the lab's copies run.
        POLICY_RC_D.write_text("#!/bin/sh\nexit 101\n")
        POLICY_RC_D.chmod(0o755)
    try:
        run(["apt-get", "update", "-q"], env=env)
        run(["apt-get", "install", "-y", "-q", "--no-install-recommends", *missing], env=env)
    finally:
        if made_policy:
            POLICY_RC_D.unlink()


def requirements_stamp() -> str:
    digest = hashlib.sha256()
    for path in sorted(
        [LAB_PACKAGE / "pyproject.toml", DOCTOR_PACKAGE / "pyproject.toml", REPO / "pyproject.toml"]
    ):
        if path.exists():
            digest.update(path.read_bytes())
    return digest.hexdigest()


def install_python_environment() -> Path:
    stamp_file = VENV / ".bootstrap-stamp"
    stamp = requirements_stamp()
    python = VENV / "bin" / "python"
    if python.exists() and stamp_file.exists() and stamp_file.read_text() == stamp:
        return python
    base_python = "/usr/bin/python3" if Path("/usr/bin/python3").exists() else sys.executable
    run([base_python, "-m", "venv", str(VENV)])
    run([str(python), "-m", "pip", "install", "-q", "--upgrade", "pip"])
    run([str(python), "-m", "pip", "install", "-q", "-e", f"{LAB_PACKAGE}[dev]", "-e", str(DOCTOR_PACKAGE)])
    stamp_file.write_text(stamp)
    return python


def configure_nix() -> None:
    os.environ.setdefault("NIX_CONFIG", NIX_CONFIG)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("action", choices=["setup", "demo", "test"])
    parser.add_argument("pytest_args", nargs="*", help="extra arguments for pytest (test only)")
    args = parser.parse_args()
    try:
        if os.geteuid() != 0:
            raise BootstrapError(
                "must run as root (network namespaces and packages need it): run it from a root shell"
            )
        if shutil.which("apt-get") is None:
            raise BootstrapError("this bootstrap supports Debian (apt-get not found)")
        install_debian_packages()
        python = install_python_environment()
        configure_nix()
        if args.action == "setup":
            # The lab machines' root filesystem (cached; a few minutes the first time).
            return subprocess.run([str(VENV / "bin" / "mail-lab"), "tree"], check=False).returncode
        if args.action == "demo":
            return subprocess.run([str(VENV / "bin" / "mail-lab"), "demo"], check=False).returncode
        # Two serial streams side by side: the shared lab's tests and the rest (tests/lab/conftest.py).
        return subprocess.run(
            [
                str(python),
                *("-m", "pytest", "-n", "2", "--dist", "loadgroup"),
                f"--junitxml={SUITE_REPORT}",
                *args.pytest_args,
            ],
            cwd=REPO,
            check=False,
        ).returncode
    except BootstrapError as error:
        print(f"bootstrap: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
