"""The scan of the daemons' logs (mail_lab.lab.daemon_logs, mail_lab.lab.log_scan; run by conftest.py).

The rules on lines the daemons write (no lab needed), then on the shared lab: an error dovecot
really logs is reported, and the first delivery to a new mailbox logs none (the home plan's
`delivery.dovecotLmtp` makes dovecot create the mailbox before the duplicate filter writes its
marks into the mailbox's home; without it dovecot logged "duplicate db: transaction:
file_dotlock_open(.../.dovecot.lda-dupes) failed").
"""

from __future__ import annotations

import shlex
import time
import uuid

import pytest

from mail_lab.lab.daemon_logs import ALLOWED_LOG_LINES, PROBLEM_MARKERS, log_problems
from mail_lab.lab.log_scan import LogScan
from mail_lab.lab.world import World
from mail_lab.mail import flow
from mail_lab.polling import poll
from mail_lab.services import dovecot

SCAN_WAIT = 10.0

# Lines as the daemons write them (from lab runs), with whether the scan must report them.
SAMPLES = [
    ("postfix", "Dec 02 16:45:50 mail postfix/smtpd[812]: warning: hostname nowhere does not resolve", True),
    ("postfix", "Dec 02 16:45:50 mail postfix/smtpd[812]: connect from mx.example.net[192.0.2.10]", False),
    (
        "dovecot",
        "Dec 02 16:59:11 lmtp(alice@example.org)<15009><m/beH19OEGuhOgAAwX/9vA>: Error: lmtp-server: conn"
        " unix:pid=15008,uid=102 [1]: rcpt alice@example.org: duplicate db: transaction:"
        " file_dotlock_open(/var/vmail/example.org/alice/.dovecot.lda-dupes) failed:"
        " No such file or directory",
        True,
    ),
    (
        "dovecot",
        "Dec 02 16:45:55 master: Warning: Killed with signal 15 (by pid=8673 uid=0 code=kill)",
        False,
    ),
    ("rspamd", "2026-12-02 16:45:38 #7242(main) <9c00d8>; [warning] cfg; rspamd_config_read: no file", True),
    ("rspamd", "2026-12-02 16:45:38 #7242(main) <9c00d8>; [info] main; main: rspamd 3.4 is loading", False),
    ("redis", "7076:M 02 Dec 2026 16:45:37.476 # Server initialized", False),
    ("redis", "7076:M 02 Dec 2026 16:45:37.476 # Failed opening the temp RDB file temp-1.rdb", True),
    ("redis", "7076:M 02 Dec 2026 16:45:37.476 * Ready to accept connections unix", False),
    ("kresd", "[system] error while loading config: /etc/knot-resolver/kresd.conf:3: syntax error", True),
    ("wireguard", "RTNETLINK answers: File exists", True),
    ("wireguard", "wireguard-go-wg0.service: Failed with result 'exit-code'.", True),
    ("acme", "2026/12/02 16:58:55 [INFO] retry due to: acme: error: 400 :: badNonce", False),
    ("acme", "2026/12/02 16:58:55 [ERROR] error: one or more domains had a problem", True),
    ("postfix", "postfix.service: Failed with result 'exit-code'.", True),
]


@pytest.mark.parametrize(("daemon", "line", "reported"), SAMPLES, ids=[f"{d}-{r}" for d, _, r in SAMPLES])
def test_the_rules_report_errors_and_warnings_but_not_the_allowed_lines(
    daemon: str, line: str, reported: bool
) -> None:
    assert log_problems(daemon, [line]) == ([line] if reported else [])


def test_every_allowed_line_is_of_a_known_daemon_and_says_why() -> None:
    for daemon, pattern, why in ALLOWED_LOG_LINES:
        assert daemon in PROBLEM_MARKERS, daemon
        assert len(why.split()) >= 5, f"{daemon} {pattern!r}: say why it is harmless"


def test_every_daemon_has_a_sample_of_each_kind() -> None:
    for daemon in PROBLEM_MARKERS:
        assert any(d == daemon and reported for d, _, reported in SAMPLES), daemon


def wait_for_problems(scan: LogScan) -> list[str]:
    return poll(scan.problems, SCAN_WAIT, 0.2) or []


@pytest.mark.lab
def test_an_error_dovecot_really_logs_is_reported(mail_world: World, daemon_log_scan: LogScan) -> None:
    assert daemon_log_scan.problems() == [], "the shared lab logged problems before this test"
    # doveadm's own test: one line of each level through dovecot's log service.
    mail_world.machines["home"].succeed("doveadm log test")
    found = wait_for_problems(daemon_log_scan)
    error = [line for line in found if "Error: This is Dovecot's error log" in line]
    assert error and all(" home dovecot dovecot.log: " in line for line in error), found
    # The scan reads each line once: the module's own scan (conftest.py) does not see them again.
    assert daemon_log_scan.problems() == []


def lmtp_delivery(message_id: str, recipient: str) -> dict[str, str]:
    """The agent's job that delivers one message over dovecot's LMTP socket (run as postfix)."""
    return {
        "action": "send",
        "lmtp_socket": dovecot.LMTP_SOCKET,
        "sender": "bob@example.net",
        "recipient": recipient,
        "subject": "first delivery",
        "body": "new\n",
        "message_id": message_id,
    }


@pytest.mark.lab
def test_the_first_delivery_to_a_new_mailbox_logs_no_error(
    mail_world: World, daemon_log_scan: LogScan
) -> None:
    home = mail_world.machines["home"]
    account = str(mail_world.world["accounts"]["home"])
    mailbox_home = dovecot.maildir_of(account).removesuffix("/").rsplit("/", 1)[0]
    aside = f"{mailbox_home}.aside-{uuid.uuid4().hex}"
    assert daemon_log_scan.problems() == []
    # A mailbox that earlier tests delivered to is put aside (and back after): this one is new.
    home.succeed(f"if [ -e {mailbox_home} ]; then mv {mailbox_home} {aside}; fi")
    try:
        message_id = f"<first.{uuid.uuid4().hex}@example.net>"
        for _ in range(2):
            delivery = lmtp_delivery(message_id, account)
            result = flow.run_agent(home, delivery, prefix=f"runuser -u {dovecot.MTA_USER} --")
            assert result == {"accepted": True}, result
        messages = f"{mailbox_home}/Maildir/new {mailbox_home}/Maildir/cur"
        stored = home.succeed(f"grep -rlF -- {shlex.quote(message_id)} {messages} || true")
        assert len(stored.split()) == 1, f"the message and its retry should land once: {stored}"
        time.sleep(1)  # dovecot's log process writes after the delivery's reply
        assert daemon_log_scan.problems() == []
    finally:
        home.succeed(f"if [ -e {aside} ]; then rm -rf {mailbox_home} && mv {aside} {mailbox_home}; fi")
