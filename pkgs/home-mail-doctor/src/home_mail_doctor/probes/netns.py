"""Run a function with its sockets in another network namespace, without moving the process.

A network namespace is per thread: a fresh thread joins the namespace (setns through pyroute2),
runs the function and ends, so the rest of the doctor stays where it was.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from typing import TypeVar

from pyroute2 import netns  # type: ignore[import-untyped]

from home_mail_doctor.probes.command import ProbeError

T = TypeVar("T")


def inside(namespace_path: str | None, function: Callable[[], T], timeout: float) -> T:
    """`function()` run in the namespace at `namespace_path` (None: here); ProbeError past `timeout`."""
    if namespace_path is None:
        return function()
    results: list[T] = []
    errors: list[BaseException] = []

    def target() -> None:
        try:
            descriptor = os.open(namespace_path, os.O_RDONLY)
        except OSError as error:
            errors.append(ProbeError(f"cannot open {namespace_path}: {error.strerror}"))
            return
        try:
            netns.setns(descriptor, flags=0)
            results.append(function())
        except BaseException as error:  # handed to the caller's thread
            errors.append(error)
        finally:
            os.close(descriptor)

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise ProbeError(f"a probe in {namespace_path} took more than {timeout:.0f} s")
    if errors:
        raise errors[0]
    return results[0]
