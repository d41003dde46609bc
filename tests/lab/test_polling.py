"""mail_lab.polling: the one bounded wait (no lab needed)."""

from __future__ import annotations

import time

import pytest

from mail_lab.polling import PollTimeoutError, poll, retry


def test_retry_returns_the_first_truthy_value() -> None:
    answers = iter([None, 0, "", "ready", "later"])
    assert retry(lambda: next(answers), timeout=5, interval=0.01, what="an answer") == "ready"
    assert next(answers) == "later", "no call after the condition held"


def test_a_condition_that_never_holds_is_bounded_in_time_and_tries() -> None:
    calls: list[float] = []

    def never() -> bool:
        calls.append(time.monotonic())
        return False

    started = time.monotonic()
    with pytest.raises(PollTimeoutError, match=r"timed out after 0 s waiting for the impossible"):
        retry(never, timeout=0.3, interval=0.05, what="the impossible")
    assert 0.3 <= time.monotonic() - started < 2.0
    assert 2 <= len(calls) <= 0.3 / 0.05 + 2
    assert poll(never, timeout=0.1, interval=0.05) is None


def test_a_condition_that_raises_ends_the_wait() -> None:
    def broken() -> bool:
        raise RuntimeError("will never hold")

    with pytest.raises(RuntimeError, match="will never hold"):
        poll(broken, timeout=10, interval=1)


def test_the_interval_must_be_positive() -> None:
    with pytest.raises(ValueError, match="interval must be positive"):
        poll(lambda: True, timeout=1, interval=0)
