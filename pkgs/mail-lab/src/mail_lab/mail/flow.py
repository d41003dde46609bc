"""Send, find and read back mail through the lab, using only the test-driver API of a machine.

Every network action runs *inside* a machine: the client code (`mail/agent.py`, standard
library only) is handed to the machine's own `python3` with `machine.succeed`, so the same calls
work from the demo, the lab tests and scenario scripts. TLS is always verified, against the
machine's trust store (which holds the lab CA).

`authentication_results` and `received_peers` read what the receiving side recorded; they live in
`mail_lab.mail.headers`, which the scenario scripts share, and are re-exported here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import shlex
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from mail_lab.mail import agent
from mail_lab.mail.headers import authentication_results, received_peers
from mail_lab.polling import poll
from mail_lab.services.machine import DriverMachine

__all__ = [
    "DriverMachine",
    "MailRefusedError",
    "Submission",
    "authentication_results",
    "ehlo",
    "imap_fetch",
    "new_message_id",
    "received_peers",
    "send",
    "submit",
    "wait_for_maildir_message",
]

Security = Literal["none", "starttls", "tls"]
POLL_INTERVAL = 0.5
DEFAULT_TIMEOUT = 120.0


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


def _agent_path(machine: DriverMachine) -> str:
    """Copy the agent into the machine once (named by its content, so an edit gets a new copy)."""
    source = Path(agent.__file__).read_bytes()
    path = f"/tmp/mail-lab-agent-{hashlib.sha256(source).hexdigest()[:12]}.py"
    if machine.execute(f"test -f {path}")[0] != 0:
        encoded = base64.b64encode(source).decode()
        machine.succeed(f"echo {encoded} | base64 -d > {path}.new && mv {path}.new {path}")
    return path


def _run_agent(machine: DriverMachine, job: dict[str, Any]) -> dict[str, Any]:
    output = machine.succeed(f"python3 {_agent_path(machine)} {shlex.quote(json.dumps(job))}")
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
    result = _run_agent(machine, job)
    return Submission(
        accepted=bool(result["accepted"]),
        message_id=message_id,
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
    job = {
        "action": "ehlo",
        "server": server,
        "port": port,
        "security": security,
        "tls_name": tls_name,
        "helo": helo,
    }
    return _run_agent(machine, job)


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
        result = _run_agent(machine, job)
        return str(result["message"]) if result["found"] else None

    message = poll(fetched, timeout, POLL_INTERVAL)
    if message is None:
        raise TimeoutError(f"no message {message_id} for {user} over IMAPS after {timeout:.0f} s")
    return message
