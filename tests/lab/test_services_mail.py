"""The real mail daemons on the lab: they come up, answer, sign, verify and refuse what they must.

Runs on the full lab (the world bring-up of mail_lab), shared with the scenario tests (conftest.py).
Needs root; skips with the reason otherwise.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from lab_support import expect_milter_down

from mail_lab.lab.log_scan import LogScan
from mail_lab.lab.topology import TopologyView
from mail_lab.lab.world import World
from mail_lab.mail import flow
from mail_lab.polling import retry
from mail_lab.services import dovecot, kresd, redis, rspamd
from mail_lab.services.accounts import Account, load_accounts
from mail_lab.services.world import MailWorld

pytestmark = [pytest.mark.lab, pytest.mark.slow]


@dataclass
class Lab:
    machines: dict[str, Any]
    topology: dict[str, Any]
    state_dir: Path

    @property
    def world(self) -> MailWorld:
        return MailWorld.from_topology(self.topology)

    @property
    def namespace(self) -> str:
        return TopologyView(self.topology).home.namespace.name

    def account(self, role: str) -> Account:
        return next(a for a in load_accounts(self.state_dir) if a.role == role)

    def in_mail_namespace(self, command: str) -> str:
        return f"ip netns exec {shlex.quote(self.namespace)} sh -c {shlex.quote(command)}"


@pytest.fixture(scope="module")
def lab(mail_world: World) -> Lab:
    return Lab(machines=mail_world.machines, topology=mail_world.topology, state_dir=mail_world.state_dir)


# --- DNS -----------------------------------------------------------------------------------------


def test_knot_serves_mail_records_from_the_topology(lab: Lab) -> None:
    client, world = lab.machines["client"], lab.world
    for server in world.name_server.addresses:

        def query(name: str, rdtype: str, server: object = server) -> list[str]:
            output = client.succeed(f"kdig +short +norec +timeout=2 @{server} {rdtype} {name}")
            return sorted(line.strip('"') for line in output.split())

        assert query("example.org", "MX") == ["10", "mail.example.org."]
        assert query("mail.example.org", "A") == [str(a) for a in world.home.ipv4]
        assert query("mail.example.org", "AAAA") == [str(a) for a in world.home.ipv6]
        for address in world.home.addresses:
            assert query(address.reverse_pointer, "PTR") == ["mail.example.org."]
        for address in world.remote.addresses:
            assert query(address.reverse_pointer, "PTR") == ["mx.example.net."]
        spf = client.succeed(f"kdig +short @{server} TXT example.org").strip().strip('"')
        expected = " ".join([f"ip4:{a}" for a in world.home.ipv4] + [f"ip6:{a}" for a in world.home.ipv6])
        assert spf == f"v=spf1 {expected} -all"
        assert "p=reject" in client.succeed(f"kdig +short @{server} TXT _dmarc.example.org")
        assert "v=DKIM1" in client.succeed(f"kdig +short @{server} TXT mail._domainkey.example.net")


def test_kresd_resolves_lab_names_and_queries_only_the_lab_name_server(lab: Lab) -> None:
    home, world = lab.machines["home"], lab.world
    v4 = ", ".join(str(a) for a in world.name_server.ipv4)
    v6 = ", ".join(str(a) for a in world.name_server.ipv6)
    # Count every packet kresd sends out of the namespace, and those to the lab's name server.
    probe = f"""table inet mlb_kresd_probe {{
  chain output {{
    type filter hook output priority 0; policy accept;
    meta skuid "{kresd.USER}" ip daddr {{ {v4} }} th dport 53 counter
    meta skuid "{kresd.USER}" ip6 daddr {{ {v6} }} th dport 53 counter
    meta skuid "{kresd.USER}" oifname != "lo" counter
  }}
}}
"""
    home.succeed(lab.in_mail_namespace(f"printf %s {shlex.quote(probe)} | nft -f -"))
    try:
        for name in ("mx.example.net", "no-such-name.example.net", "www.example.com", "."):
            home.succeed(lab.in_mail_namespace(f"kdig +timeout=3 +retry=0 @127.0.0.1 {name} A >/dev/null"))
        answer = home.succeed(lab.in_mail_namespace("kdig +short @127.0.0.1 A mx.example.net"))
        assert answer.split() == [str(a) for a in world.remote.ipv4]
        ruleset = home.succeed(lab.in_mail_namespace("nft list table inet mlb_kresd_probe"))
    finally:
        home.succeed(lab.in_mail_namespace("nft delete table inet mlb_kresd_probe"))
    to_v4, to_v6, total = (int(n) for n in re.findall(r"counter packets (\d+)", ruleset))
    assert to_v4 + to_v6 > 0, "kresd sent nothing to the lab's name server"
    assert to_v4 + to_v6 == total, f"kresd sent {total - to_v4 - to_v6} packets elsewhere:\n{ruleset}"


# --- daemons up and answering ----------------------------------------------------------------------


def test_home_services_listen_in_the_mail_namespace_and_redis_has_no_port(lab: Lab) -> None:
    home = lab.machines["home"]
    listening = home.succeed(lab.in_mail_namespace("ss -Hltn"))
    ports = {int(line.split()[3].rsplit(":", 1)[1]) for line in listening.splitlines()}
    assert {25, 465, 993} <= ports, listening
    assert "redis" not in home.succeed("ss -Hltnp") + home.succeed(lab.in_mail_namespace("ss -Hltnp"))
    for socket in (redis.SOCKET, rspamd.MILTER_SOCKET, dovecot.LMTP_SOCKET, dovecot.AUTH_SOCKET):
        home.succeed(f"test -S {socket}")
    assert home.succeed(f"redis-cli -s {redis.SOCKET} ping").strip() == "PONG"


def test_port_25_offers_starttls_but_never_auth(lab: Lab) -> None:
    client, world = lab.machines["client"], lab.world
    for address in world.home.addresses:
        reply = flow.ehlo(client, server=str(address), tls_name=world.home.fqdn, helo="client.example.net")
        assert "starttls" in reply["keywords"]
        assert reply["auth"] is None, "AUTH offered before STARTTLS"
        assert reply["auth_after_starttls"] is None, "AUTH offered on the MX port"
        assert "size" in reply["keywords"]


def test_submissions_465_is_tls_with_auth_and_refuses_bad_passwords(
    lab: Lab, daemon_log_scan: LogScan
) -> None:
    daemon_log_scan.expect(
        "postfix", r"warning: .*SASL (PLAIN|LOGIN) authentication failed", "a wrong password"
    )
    client, world, alice = lab.machines["client"], lab.world, lab.account("home")
    address = str(world.home.ipv4[0])
    reply = flow.ehlo(client, server=address, port=465, security="tls", tls_name=world.home.fqdn)
    assert set(reply["auth"].split()) >= {"PLAIN", "LOGIN"}
    refused = flow.submit(
        client,
        server=address,
        port=465,
        security="tls",
        tls_name=world.home.fqdn,
        login=(alice.address, alice.password + "-wrong"),
        sender=alice.address,
        recipient=lab.account("remote").address,
    )
    assert not refused.accepted and refused.code == 535, refused


def test_imaps_refuses_a_wrong_password(lab: Lab) -> None:
    client, world, alice = lab.machines["client"], lab.world, lab.account("home")
    with pytest.raises(Exception, match=r"(?i)authentication failed|login"):
        flow.imap_fetch(
            client,
            server=str(world.home.ipv4[0]),
            tls_name=world.home.fqdn,
            user=alice.address,
            password=alice.password + "-wrong",
            message_id="<none@mail-lab.test>",
            timeout=0,
        )


# --- mail flow -----------------------------------------------------------------------------------


@pytest.mark.parametrize("family", ["ipv4", "ipv6"])
def test_outbound_is_signed_and_passes_spf_dkim_dmarc_at_remote(lab: Lab, family: str) -> None:
    client, remote, world = lab.machines["client"], lab.machines["remote"], lab.world
    alice, bob = lab.account("home"), lab.account("remote")
    domain = world.single_family_domain(family).domain
    message_id = flow.send(
        client,
        server=str(world.home.ipv4[0]),
        port=465,
        security="tls",
        tls_name=world.home.fqdn,
        login=(alice.address, alice.password),
        sender=alice.address,
        recipient=f"{bob.local_part}@{domain}",
        helo="client.example.net",
        tag=f"outbound-{family}",
    )
    message = flow.wait_for_maildir_message(remote, world.remote_maildir, message_id)
    assert flow.authentication_results(message) == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    assert "d=example.org" in message and "s=mail" in message
    forwarded = str(world.home.ipv4[0] if family == "ipv4" else world.home.ipv6[0])
    assert flow.received_peers(message)[0] == forwarded


def test_inbound_by_mx_lookup_is_verified_and_readable_over_imaps(lab: Lab) -> None:
    remote, client, world = lab.machines["remote"], lab.machines["client"], lab.world
    alice, bob = lab.account("home"), lab.account("remote")
    # Handed to the remote's own postfix, which finds home by its MX record and signs for example.net.
    message_id = flow.send(
        remote,
        server="127.0.0.1",
        security="none",
        sender=bob.address,
        recipient=alice.address,
        tag="inbound",
    )
    for address in world.home.addresses:
        message = flow.imap_fetch(
            client,
            server=str(address),
            tls_name=world.home.fqdn,
            user=alice.address,
            password=alice.password,
            message_id=message_id,
        )
    assert flow.authentication_results(message) == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}
    assert flow.received_peers(message)[0] in {str(a) for a in world.remote.addresses}


def test_forged_example_org_from_is_rejected_by_dmarc(lab: Lab) -> None:
    client, remote, home = lab.machines["client"], lab.machines["remote"], lab.machines["home"]
    world = lab.world
    alice, bob = lab.account("home"), lab.account("remote")
    server = str(world.home.ipv4[0])
    # From the client: envelope and header claim example.org, which the client may not send for.
    forged = flow.submit(
        client, server=server, tls_name=world.home.fqdn, sender=alice.address, recipient=alice.address
    )
    assert not forged.accepted and forged.code is not None and forged.code >= 500, forged
    # From the remote: SPF passes for its own envelope, but the From header is example.org's. Only
    # DMARC (alignment, p=reject) can refuse this one.
    aligned_spf = flow.submit(
        remote,
        server=server,
        tls_name=world.home.fqdn,
        sender=bob.address,
        header_from=alice.address,
        recipient=alice.address,
        helo=world.remote.fqdn,
    )
    assert not aligned_spf.accepted and aligned_spf.code is not None and aligned_spf.code >= 500, aligned_spf
    log = home.succeed(f"grep -F -- {shlex.quote(aligned_spf.message_id)} {rspamd.LOG_DIR}/rspamd.log")
    assert "DMARC_POLICY_REJECT" in log, log


def test_no_open_relay(lab: Lab) -> None:
    client, world = lab.machines["client"], lab.world
    for server, target in ((world.home, "someone@example.net"), (world.remote, "someone@example.org")):
        attempt = flow.submit(
            client,
            server=str(server.ipv4[0]),
            tls_name=server.fqdn,
            sender="stranger@example.com",
            recipient=target,
            helo="client.example.net",
        )
        assert not attempt.accepted and attempt.code == 554 and "Relay access denied" in attempt.text, attempt


def test_rspamd_down_means_tempfail_not_unscanned_mail(lab: Lab, daemon_log_scan: LogScan) -> None:
    home, remote, world = lab.machines["home"], lab.machines["remote"], lab.world
    alice, bob = lab.account("home"), lab.account("remote")
    expect_milter_down(daemon_log_scan)

    def bob_to_alice() -> flow.Submission:
        return flow.submit(
            remote,
            server=str(world.home.ipv4[0]),
            tls_name=world.home.fqdn,
            sender=bob.address,
            recipient=alice.address,
            helo=world.remote.fqdn,
        )

    home.succeed("systemctl stop rspamd.service")
    try:
        deferred = bob_to_alice()
        assert not deferred.accepted and deferred.code is not None and 400 <= deferred.code < 500, deferred
    finally:
        home.succeed("systemctl start rspamd.service")
    retry(lambda: home.execute(f"test -S {rspamd.MILTER_SOCKET}")[0] == 0, 60, 0.5, "rspamd's milter socket")
    delivered = bob_to_alice()
    assert delivered.accepted, delivered
    flow.wait_for_maildir_message(home, dovecot.maildir_of(alice.address), delivered.message_id)


def test_a_retried_message_lands_once_and_a_new_one_still_lands(lab: Lab) -> None:
    """The home plan's duplicate filter (lib/drop-duplicates.sieve) at work in dovecot's LMTP."""
    remote, home = lab.machines["remote"], lab.machines["home"]
    alice, bob = lab.account("home"), lab.account("remote")
    maildir = dovecot.maildir_of(alice.address)
    retried = flow.new_message_id("retried")
    send = {"server": "127.0.0.1", "security": "none", "sender": bob.address, "recipient": alice.address}
    empty_queue = "postqueue -p | grep -qx 'Mail queue is empty'"
    for attempt in ("first", "second"):
        flow.send(remote, **send, subject=f"retried, {attempt} attempt", message_id=retried)
        # One at a time: the second copy reaches dovecot after the first is stored.
        flow.wait_for_maildir_message(home, maildir, retried)
        remote.wait_until_succeeds(empty_queue, timeout=60)
        home.wait_until_succeeds(empty_queue, timeout=60)
    later = flow.send(remote, **send, tag="after-the-retry")
    flow.wait_for_maildir_message(home, maildir, later)
    copies = home.succeed(
        f"grep -lF -r -- {shlex.quote(retried)} {shlex.quote(maildir)}new {shlex.quote(maildir)}cur | wc -l"
    )
    assert int(copies) == 1, f"{retried} is in the mailbox {copies.strip()} times"
    log = home.succeed(f"cat {dovecot.LOG_FILE}")
    assert any(retried in line and "discard" in line for line in log.splitlines()), (
        "dovecot did not log the discarded copy"
    )
