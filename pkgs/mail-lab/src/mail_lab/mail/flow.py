"""Send, find and read back mail through the lab, using only the test-driver API of a machine.

Every network action runs *inside* a machine: the mail test agent (`mail/agent.py`, standard
library only, the command `mail-test-agent` on the machines' PATH) is run there with
`machine.succeed`, so the same calls work from the demo and the lab tests, and on the NixOS VM
tests' nodes. TLS is always verified, against the machine's trust store (which holds the lab CA).

`authentication_results` and `received_peers` read what the receiving side recorded; they live in
`mail_lab.mail.headers`, which the scenario scripts share, and are re-exported here.
"""

from __future__ import annotations

import json
import shlex
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from mail_lab.mail import agent
from mail_lab.mail.headers import authentication_results, received_peers
from mail_lab.polling import poll
from mail_lab.services.machine import DriverMachine

__all__ = [
    "DriverMachine",
    "MailAgentError",
    "MailRefusedError",
    "Submission",
    "agent_command",
    "authentication_results",
    "burst_job",
    "ehlo",
    "hold_command",
    "imap_fetch",
    "knock_command",
    "new_message_id",
    "probe",
    "received_peers",
    "run_agent",
    "send",
    "send_file",
    "serve_argv",
    "submit",
    "wait_for_maildir_message",
]

Security = Literal["none", "starttls", "tls"]
POLL_INTERVAL = 0.5
DEFAULT_TIMEOUT = 120.0
# Per SMTP operation, for bursts and large messages to a server under a fault.
LONG_TIMEOUT = 300.0


class MailAgentError(Exception):
    """The agent could not do what was asked (not a refusal by the server)."""


class MailRefusedError(Exception):
    def __init__(self, code: int, text: str):
        super().__init__(f"{code} {text}")
        self.code = code
        self.text = text


@dataclass(frozen=True)
class Submission:
    accepted: bool
    message_id: str
    code: int | None = None
    text: str = ""


def agent_command(job: dict[str, Any]) -> str:
    """The shell command that runs the mail test agent (`mail/agent.py`) with `job` in a machine."""
    return f"{agent.COMMAND} {shlex.quote(json.dumps(job))}"


def run_agent(
    machine: DriverMachine, job: dict[str, Any], *, prefix: str = "", timeout: int | None = None
) -> dict[str, Any]:
    """Run the agent in `machine` (it is on the PATH of lab machines and of the VM tests' nodes),
    after the command `prefix` if given (e.g. `ip netns exec wg`, `runuser -u postfix --`)."""
    output = machine.succeed(f"{prefix} {agent_command(job)}".strip(), timeout=timeout)
    # The agent prints one JSON object as its last line.
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    return result


def new_message_id(tag: str) -> str:
    return f"<{tag}.{uuid.uuid4().hex}@mail-lab.test>"


def submit(
    machine: DriverMachine,
    *,
    server: str,
    sender: str,
    recipient: str,
    port: int = 25,
    security: Security = "starttls",
    tls_name: str | None = None,
    login: tuple[str, str] | None = None,
    helo: str | None = None,
    header_from: str | None = None,
    subject: str = "mail-lab",
    body: str = "Sent by mail-lab.\n",
    tag: str = "mail-lab",
    message_id: str | None = None,
) -> Submission:
    """Submit one message from `machine`; the refusal, if any, is in the result (no exception).

    `message_id` (default: a new one from `tag`) may repeat one: a sender retrying a message."""
    message_id = message_id or new_message_id(tag)
    job = {
        "action": "send",
        "server": server,
        "port": port,
        "security": security,
        "tls_name": tls_name,
        "helo": helo,
        "login": {"user": login[0], "password": login[1]} if login else None,
        "sender": sender,
        "header_from": header_from,
        "recipient": recipient,
        "subject": subject,
        "body": body,
        "message_id": message_id,
    }
    return _submission(machine, job)


def _submission(machine: DriverMachine, job: dict[str, Any]) -> Submission:
    result = run_agent(machine, job)
    return Submission(
        accepted=bool(result["accepted"]),
        message_id=str(job.get("message_id") or ""),
        code=result.get("code"),
        text=str(result.get("text", "")),
    )


def send(machine: DriverMachine, **kwargs: Any) -> str:
    """Like `submit`, but raise MailRefusedError unless the server accepted; return the Message-ID."""
    submission = submit(machine, **kwargs)
    if not submission.accepted:
        raise MailRefusedError(submission.code or 0, submission.text)
    return submission.message_id


def ehlo(
    machine: DriverMachine,
    *,
    server: str,
    port: int = 25,
    security: Security = "starttls",
    tls_name: str | None = None,
    helo: str | None = None,
) -> dict[str, Any]:
    """The server's EHLO keywords and AUTH mechanisms, before and (for starttls) after STARTTLS."""
    result = probe(
        machine,
        server=server,
        port=port,
        security=security,
        tls_name=tls_name,
        helo=helo,
        timeout=agent.TIMEOUT,
    )
    if "error" in result or result["replies"]:
        raise MailAgentError(f"EHLO to {server}:{port} failed: {result}")
    return result


def probe(
    machine: DriverMachine,
    *,
    server: str,
    port: int,
    security: Security,
    commands: Sequence[tuple[str, str]] = (),
    tls_name: str | None = None,
    helo: str | None = "probe.example.net",
    timeout: float = 10.0,
) -> dict[str, Any]:
    """One SMTP conversation from `machine`: the greeting, the EHLO keywords (and after STARTTLS),
    the reply to each command; a connection that fails is reported as `error`, never raised."""
    job = {
        "action": "probe",
        "server": server,
        "port": port,
        "security": security,
        "tls_name": tls_name,
        "helo": helo,
        "timeout": timeout,
        "commands": [list(command) for command in commands],
    }
    return run_agent(machine, job)


def send_file(
    machine: DriverMachine, path: str, *, server: str, sender: str, recipient: str, helo: str | None = None
) -> Submission:
    """Send the message in the file `path` of `machine` as it is, over plain SMTP to server:25."""
    job = {"action": "send", "server": server, "port": 25, "helo": helo, "timeout": LONG_TIMEOUT}
    return _submission(machine, {**job, "sender": sender, "recipient": recipient, "message_file": path})


def burst_job(
    *, server: str, sender: str, recipient: str, tag: str, count: int, domain: str, helo: str | None = None
) -> dict[str, Any]:
    """The agent's job that sends `count` messages in one plain SMTP session to server:25,
    Message-IDs <tag-N@domain>; run it with `run_agent` or `agent_command`."""
    return {
        "action": "burst",
        "server": server,
        "port": 25,
        "sender": sender,
        "recipient": recipient,
        "tag": tag,
        "count": count,
        "domain": domain,
        "helo": helo,
        "timeout": LONG_TIMEOUT,
    }


def hold_command(*, server: str, flag: str, port: int = 25) -> str:
    """The shell command of an SMTP session held open until the file `flag` exists (the agent's
    `hold`); it prints the outcome as JSON."""
    return agent_command({"action": "hold", "server": server, "port": port, "flag": flag})


def knock_command(*, address: str, port: int, source: str | None = None) -> str:
    """The shell command of one TCP connection attempt with a single SYN (the agent's `knock`)."""
    return agent_command({"action": "knock", "address": address, "port": port, "source": source})


def serve_argv(*, port: int, tag: str, ready_file: str, log_file: str) -> list[str]:
    """The command (argument list) of a tagged TCP server (the agent's `serve`), e.g. for a unit."""
    job = {"action": "serve", "port": port, "tag": tag, "ready_file": ready_file, "log_file": log_file}
    return [agent.COMMAND, json.dumps(job)]


def wait_for_maildir_message(
    machine: DriverMachine, maildir: str, message_id: str, timeout: float = DEFAULT_TIMEOUT
) -> str:
    """The text of the message with `message_id` in `maildir` (new/ or cur/), waiting for it."""
    directories = " ".join(shlex.quote(f"{maildir.rstrip('/')}/{sub}") for sub in ("new", "cur"))
    find = f"grep -lF -r -- {shlex.quote(message_id)} {directories} 2>/dev/null | head -n 1"

    def found() -> str | None:
        status, path = machine.execute(find)
        return path.strip() if status == 0 and path.strip() else None

    path = poll(found, timeout, POLL_INTERVAL)
    if path is None:
        raise TimeoutError(f"no message {message_id} in {maildir} after {timeout:.0f} s")
    return machine.succeed(f"cat {shlex.quote(path)}")


def imap_fetch(
    machine: DriverMachine,
    *,
    server: str,
    tls_name: str,
    user: str,
    password: str,
    message_id: str,
    port: int = 993,
    timeout: float = DEFAULT_TIMEOUT,
) -> str:
    """Log in over IMAPS from `machine` and return the message with `message_id`, waiting for it."""
    job = {
        "action": "imap_fetch",
        "server": server,
        "port": port,
        "tls_name": tls_name,
        "user": user,
        "password": password,
        "message_id": message_id,
    }

    def fetched() -> str | None:
        result = run_agent(machine, job)
        return str(result["message"]) if result["found"] else None

    message = poll(fetched, timeout, POLL_INTERVAL)
    if message is None:
        raise TimeoutError(f"no message {message_id} for {user} over IMAPS after {timeout:.0f} s")
    return message
