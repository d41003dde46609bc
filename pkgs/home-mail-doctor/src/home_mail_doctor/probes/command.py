"""Run a read-only command, optionally in a network namespace (by its path), within a time limit."""

from __future__ import annotations

import subprocess
from collections.abc import Sequence

from home_mail_doctor.probes import PROBE_TIMEOUT


class ProbeError(Exception):
    """A probe could not look: the command is missing, failed or took too long."""


def run(argv: Sequence[str], namespace_path: str | None = None, timeout: float = PROBE_TIMEOUT) -> str:
    """The command's stdout; ProbeError with its stderr when it fails."""
    full = [*(["nsenter", f"--net={namespace_path}", "--"] if namespace_path else []), *argv]
    try:
        result = subprocess.run(full, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError:
        raise ProbeError(f"{full[0]} is not installed") from None
    except subprocess.TimeoutExpired:
        raise ProbeError(f"`{' '.join(argv)}` took more than {timeout:.0f} s") from None
    if result.returncode != 0:
        detail = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise ProbeError(f"`{' '.join(argv)}` failed: {detail[-1] if detail else result.returncode}")
    return result.stdout
