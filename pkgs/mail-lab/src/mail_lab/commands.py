"""Running host commands with a bounded time and errors that say what failed."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO

DEFAULT_TIMEOUT = 30.0
# A clean, predictable environment for everything the lab runs (not the caller's venv or locale).
BASE_ENVIRONMENT: dict[str, str] = {
    "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME": "/root",
    "LANG": "C.UTF-8",
    "LC_ALL": "C.UTF-8",
}


# Where a spawned process's output goes: subprocess.PIPE, DEVNULL or STDOUT, or an open file.
Output = int | IO[bytes]


class CommandError(RuntimeError):
    def __init__(self, argv: Sequence[str], returncode: int, output: str):
        self.argv = list(argv)
        self.returncode = returncode
        self.output = output
        super().__init__(f"`{shlex.join(self.argv)}` failed (exit code {returncode}): {output.strip()}")


def environment(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    env = dict(BASE_ENVIRONMENT)
    if "TERM" in os.environ:
        env["TERM"] = os.environ["TERM"]
    env.update(extra or {})
    return env


def capture(
    argv: Sequence[str],
    *,
    timeout: float,
    env: Mapping[str, str],
    cwd: Path | str = "/",
    input_text: str | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` in `cwd` with exactly `env`, for at most `timeout` seconds (TimeoutExpired),
    its stdout and stderr captured as text; its exit code is the caller's to judge."""
    return subprocess.run(
        list(argv),
        input=input_text,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(env),
        cwd=cwd,
        check=False,
    )


def run(
    argv: Sequence[str],
    *,
    input_text: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
    check: bool = True,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run `argv` in the lab's environment, capture stdout and stderr; raise CommandError on
    failure when `check`."""
    try:
        result = capture(argv, input_text=input_text, timeout=timeout, env=environment(env))
    except subprocess.TimeoutExpired as error:
        raise CommandError(argv, 124, f"timed out after {timeout:.0f} s") from error
    except FileNotFoundError as error:
        raise CommandError(argv, 127, f"{argv[0]}: not found") from error
    if check and result.returncode != 0:
        raise CommandError(argv, result.returncode, result.stderr or result.stdout)
    return result


def spawn(
    argv: Sequence[str], *, stdout: Output, stderr: Output, env: Mapping[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start `argv` in the lab's environment, without waiting: no stdin, working directory `/`,
    and its own session, so a terminal's Ctrl-C does not reach it and its whole process group can
    be signalled (systemd would use a cgroup)."""
    return subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr,
        env=environment(env),
        cwd="/",
        start_new_session=True,
    )
