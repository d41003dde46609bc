"""Sockets in a lab machine's network namespace, opened by the benchmark's own process.

A socket belongs to the network namespace its creator was in when it was created. `setns(2)`
moves only the calling thread, so the benchmark enters a machine's namespace just for a call of
the mail test agent's functions (mail_lab.mail.agent) and comes back at once: timings are then
taken in this process, without spawning a program inside the machine for every message or probe.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
_LIBC = ctypes.CDLL(None, use_errno=True)


def _setns(descriptor: int) -> None:
    if _LIBC.setns(descriptor, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


@contextlib.contextmanager
def network_namespace(path: str) -> Iterator[None]:
    """Sockets created in this block live in the namespace at `path` (e.g. /run/netns/<name>)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(path, os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)
