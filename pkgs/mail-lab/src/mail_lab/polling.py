"""The lab's one way to wait for something: ask again until it holds, bounded in tries and in time.

Like the NixOS test driver's `retry`: `condition` is called at once and then every `interval`
seconds; the first truthy value it returns is the result. After `timeout` seconds (and at most
timeout / interval + 2 calls, so a condition that returns at once cannot spin) it gives up:
`poll` returns None, `retry` raises PollTimeoutError naming what it waited for. An exception from
`condition` ends the wait at once (a condition can so report "this will never hold").
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class PollTimeoutError(TimeoutError):
    """A condition did not hold within its bound."""


def _tries(timeout: float, interval: float) -> int:
    """The most calls of a condition polled every `interval` s for `timeout` s."""
    return max(1, int(timeout / interval) + 2)


def poll(condition: Callable[[], T | None], timeout: float, interval: float) -> T | None:
    """`condition()`'s first truthy value, or None if it returned none within `timeout` seconds."""
    if interval <= 0:
        raise ValueError(f"poll interval must be positive, got {interval}")
    deadline = time.monotonic() + timeout
    for _ in range(_tries(timeout, interval)):
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            break
        time.sleep(interval)
    return None


def retry(condition: Callable[[], T | None], timeout: float, interval: float, what: str) -> T:
    """`condition()`'s first truthy value; PollTimeoutError ("... waiting for <what>") if none came."""
    value = poll(condition, timeout, interval)
    if not value:
        raise PollTimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
    return value
