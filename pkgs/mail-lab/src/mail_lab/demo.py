"""`mail-lab demo`: mail both ways across the virtual internet, over IPv4 and IPv6, with a report.

Four messages, each sent the way a user's mail goes:
- remote -> home: bob writes from remote's own MTA, which finds home by its MX record and
  delivers to the forwarded public address (through the gateway and the tunnel); alice then reads
  it over IMAPS from the client, on the public address of the same family.
- home -> remote: alice submits from the client over 465 (TLS, AUTH) to home's public address;
  home signs DKIM and delivers to the remote from inside `wg`.
For each: the path, the peer address each side saw, the receiver's SPF/DKIM/DMARC verdicts and the
time from submission to the mailbox. Then where home's own (default namespace) traffic leaves.
The demo passes when every message arrived, every verdict is `pass`, and every peer address is
the expected one: the forwarded addresses for home's mail, the remote's own for the remote's.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from mail_lab.lab.world import World
from mail_lab.machine.api import Machine
from mail_lab.mail import flow
from mail_lab.services import dovecot
from mail_lab.services.world import FAMILIES, MailWorld

VERDICTS = ("spf", "dkim", "dmarc")
UNITS = {
    "home": ["postfix.service", "dovecot.service", "rspamd.service", "kresd@1.service"],
    "remote": ["postfix.service", "rspamd.service"],
}
READY_TIMEOUT = 120


@dataclass
class Delivery:
    """One demo message and what was observed of it."""

    title: str
    path: str
    expected_peer: str
    seen_peer: str = "-"
    verdicts: dict[str, str] = field(default_factory=dict)
    seconds: float | None = None
    read_back: str = ""
    error: str = ""

    @property
    def ok(self) -> bool:
        return (
            not self.error
            and self.seen_peer == self.expected_peer
            and all(self.verdicts.get(v) == "pass" for v in VERDICTS)
        )


@dataclass
class Route:
    """Where a namespace of home sends traffic for the remote."""

    title: str
    device: str
    source: str
    expected_source: str

    @property
    def ok(self) -> bool:
        return self.source == self.expected_source


def _bare(address: str) -> str:
    return address.split("/", maxsplit=1)[0]


class Demo:
    def __init__(self, world: World):
        self.machines = world.machines
        self.topology = world.topology
        self.mail = MailWorld.from_topology(world.topology)
        plan = world.topology["plans"]["home"]
        self.namespace = str(plan["namespace"]["name"])
        self.public = {family: _bare(plan["addresses"][family][0]) for family in FAMILIES}
        machines = world.topology["world"]["machines"]
        self.remote_address = {family: _bare(machines["remote"][family]) for family in FAMILIES}
        self.isp_address = {family: _bare(machines["home"][family]) for family in FAMILIES}
        self.alice = self.mail.accounts["home"]
        self.bob = self.mail.accounts["remote"]
        self.family_domains = {family: self.mail.single_family_domain(family).domain for family in FAMILIES}

    def machine(self, name: str) -> Machine:
        return self.machines[name]

    def wait_until_ready(self) -> None:
        for name, units in UNITS.items():
            for unit in units:
                self.machine(name).wait_for_unit(unit, timeout=READY_TIMEOUT)
        # The tunnel carries traffic once its handshake is done.
        for family in FAMILIES:
            self.machine("remote").wait_until_succeeds(
                f"ping -c 1 -W 2 {self.public[family]}", timeout=READY_TIMEOUT
            )

    def inbound(self, family: str) -> Delivery:
        sender = self.mail.remote_family_sender(family)
        delivery = Delivery(
            title=f"remote -> home over {family}",
            path=f"{sender} -> remote MTA (MX lookup) -> gateway -> tunnel -> home postfix "
            f"[{self.public[family]}] -> rspamd -> dovecot; read over IMAPS on {self.public[family]}",
            expected_peer=self.remote_address[family],
        )

        def measure() -> None:
            started = time.monotonic()
            message_id = flow.send(
                self.machine("remote"),
                server="127.0.0.1",
                security="none",
                sender=sender,
                header_from=sender,
                recipient=self.alice,
                helo=self.mail.remote.fqdn,
                subject=f"mail-lab demo: remote to home over {family}",
                tag=f"demo-inbound-{family}",
            )
            flow.wait_for_maildir_message(self.machine("home"), dovecot.maildir_of(self.alice), message_id)
            delivery.seconds = time.monotonic() - started
            message = flow.imap_fetch(
                self.machine("client"),
                server=self.public[family],
                tls_name=self.mail.home.fqdn,
                user=self.alice,
                password=self.mail.passwords[self.alice],
                message_id=message_id,
            )
            delivery.read_back = f"IMAPS {self.public[family]}:993"
            self._observe(delivery, message)

        return self._attempt(delivery, measure)

    def outbound(self, family: str) -> Delivery:
        recipient = f"{self.bob.split('@')[0]}@{self.family_domains[family]}"
        delivery = Delivery(
            title=f"home -> remote over {family}",
            path=f"client -> home submissions [{self.public[family]}]:465 (AUTH) -> rspamd (DKIM) -> "
            f"home postfix in `{self.namespace}` -> tunnel -> gateway -> remote MTA ({recipient})",
            expected_peer=self.public[family],
        )

        def measure() -> None:
            started = time.monotonic()
            message_id = flow.send(
                self.machine("client"),
                server=self.public[family],
                port=465,
                security="tls",
                tls_name=self.mail.home.fqdn,
                login=(self.alice, self.mail.passwords[self.alice]),
                sender=self.alice,
                recipient=recipient,
                subject=f"mail-lab demo: home to remote over {family}",
                tag=f"demo-outbound-{family}",
            )
            message = flow.wait_for_maildir_message(
                self.machine("remote"), self.mail.remote_maildir, message_id
            )
            delivery.seconds = time.monotonic() - started
            delivery.read_back = f"remote maildir {self.mail.remote_maildir}"
            self._observe(delivery, message)

        return self._attempt(delivery, measure)

    @staticmethod
    def _observe(delivery: Delivery, message: str) -> None:
        peers = flow.received_peers(message)
        delivery.seen_peer = peers[0] if peers else "(no Received peer)"
        delivery.verdicts = flow.authentication_results(message)

    @staticmethod
    def _attempt(delivery: Delivery, measure: Callable[[], None]) -> Delivery:
        try:
            measure()
        except Exception as error:
            delivery.error = f"{type(error).__name__}: {error}"
        return delivery

    def routes(self) -> list[Route]:
        home = self.machine("home")
        found = []
        for family in FAMILIES:
            target = self.remote_address[family]
            for title, prefix, expected in (
                (f"home's own traffic ({family})", "", self.isp_address[family]),
                (
                    f"namespace `{self.namespace}` ({family})",
                    f"ip netns exec {self.namespace} ",
                    self.public[family],
                ),
            ):
                route: dict[str, Any] = json.loads(home.succeed(f"{prefix}ip -j route get {target}"))[0]
                found.append(
                    Route(title, str(route.get("dev", "?")), str(route.get("prefsrc", "?")), expected)
                )
        return found


def report(deliveries: list[Delivery], routes: list[Route], out: TextIO) -> None:
    def mark(ok: bool) -> str:
        return "ok  " if ok else "FAIL"

    print("\nmail-lab demo: four messages across the virtual internet\n", file=out)
    for delivery in deliveries:
        verdicts = " ".join(f"{v}={delivery.verdicts.get(v, 'none')}" for v in VERDICTS)
        timing = (
            f"{delivery.seconds:.2f} s to the mailbox" if delivery.seconds is not None else "not delivered"
        )
        print(f"[{mark(delivery.ok)}] {delivery.title}: {timing}", file=out)
        print(f"       path:      {delivery.path}", file=out)
        print(f"       peer seen: {delivery.seen_peer} (expected {delivery.expected_peer})", file=out)
        print(f"       verdicts:  {verdicts} (at the receiving side)", file=out)
        if delivery.read_back:
            print(f"       read:      {delivery.read_back}", file=out)
        if delivery.error:
            print(f"       error:     {delivery.error}", file=out)
    print("\nwhere traffic to the remote leaves home:", file=out)
    for route in routes:
        print(
            f"[{mark(route.ok)}] {route.title}: dev {route.device} src {route.source} "
            f"(expected {route.expected_source})",
            file=out,
        )
    passed = all(d.ok for d in deliveries) and all(r.ok for r in routes)
    print(f"\n{'PASSED' if passed else 'FAILED'}\n", file=out)


def run(world: World, out: TextIO = sys.stdout) -> int:
    """Send the demo's mail on `world` (up), print the report; 0 when everything held."""
    demo = Demo(world)
    demo.wait_until_ready()
    deliveries = [demo.inbound(f) for f in FAMILIES] + [demo.outbound(f) for f in FAMILIES]
    routes = demo.routes()
    report(deliveries, routes, out)
    return 0 if all(d.ok for d in deliveries) and all(r.ok for r in routes) else 1
