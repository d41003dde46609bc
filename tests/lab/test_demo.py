"""`mail-lab demo` on the shared mail lab: every message arrives, authenticated, from the right address."""

from __future__ import annotations

import io

import pytest

from mail_lab import demo
from mail_lab.lab.world import World

pytestmark = [pytest.mark.lab, pytest.mark.slow]


def test_the_demo_passes_and_reports_each_message(mail_world: World) -> None:
    out = io.StringIO()
    status = demo.run(mail_world, out=out)
    report = out.getvalue()
    assert status == 0, report
    assert report.count("spf=pass dkim=pass dmarc=pass") == 4, report
    for line in ("remote -> home over ipv4", "remote -> home over ipv6", "home -> remote over ipv6"):
        assert f"[ok  ] {line}" in report, report
    # Home's mail reached the remote from the forwarded addresses, never from the ISP line.
    assert "peer seen: 198.51.100.11 (expected 198.51.100.11)" in report, report
    assert "peer seen: 2001:db8:1::11 (expected 2001:db8:1::11)" in report, report
    assert "203.0.113.20 (expected 203.0.113.20)" in report, report


def test_a_wrong_peer_or_verdict_fails_the_delivery() -> None:
    def delivery(seen_peer: str, dkim: str) -> demo.Delivery:
        found = demo.Delivery(title="t", path="p", expected_peer="198.51.100.11", seen_peer=seen_peer)
        found.verdicts = {"spf": "pass", "dkim": dkim, "dmarc": "pass"}
        return found

    assert delivery("198.51.100.11", "pass").ok
    assert not delivery("203.0.113.20", "pass").ok
    assert not delivery("198.51.100.11", "none").ok
