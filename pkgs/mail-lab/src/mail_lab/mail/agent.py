#!/usr/bin/env python3
"""The mail test agent: every client and peer the tests need, in one program (standard library only).

    mail-test-agent '<job as JSON>'        prints the result, one JSON object, on stdout

The job's "action" picks one function below. It runs inside the machines, with any python3: the
lab puts `mail-test-agent` on every machine's PATH (mail_lab.units.install), the NixOS VM tests
install it as the package of pkgs/mail-test-agent, and `mail_lab.mail.flow` runs it through the
test-driver API. The benchmarks call the functions from the host, inside a machine's namespace.

Actions (the job's fields in parentheses; `timeout` is in seconds, per network operation):
- `send` (server, port, security, tls_name, helo, login, sender, recipient, and either
  header_from, subject, body, message_id or message_file): one message over SMTP, with AUTH if
  `login` is given, or over LMTP to the unix socket `lmtp_socket` instead of server and port;
  {"accepted": true} or the refusal {"accepted": false, "code", "text"}.
- `probe` (server, port, security, tls_name, helo, commands): one SMTP conversation: the
  greeting, the EHLO keywords and AUTH mechanisms (again after STARTTLS), the reply to each
  command ([verb, argument]; "DATA" sends the argument as the message); a failure is `error`.
- `imap_fetch` (server, port, tls_name, user, password, message_id): log in over IMAPS and return
  the message with that Message-ID: {"found": true, "message"} or {"found": false}.
- `burst` (server, port, helo, sender, recipient, tag, count, domain): `count` messages in one
  plain SMTP session, Message-IDs <tag-N@domain>; {"accepted": count}.
- `hold` (server, port, helo, flag, wait, read): an SMTP session held open: EHLO, create
  FLAG.connected, wait (at most `wait`) for FLAG, then NOOP; {"outcome", "seconds"}: "closed" (the
  server ended the session before FLAG), "reset" or "eof" (at the NOOP), "reply", "hang".
- `knock` (address, port, source, timeout): one TCP connection attempt that sends a single SYN
  (the default timeout ends it before the kernel would retransmit); {"reply": "open <the server's
  first line>" | "refused" | "timeout"}.
- `serve` (port, tag, ready_file, log_file): a TCP server on [::]:port (IPv4 and IPv6) that
  answers each connection with "TAG <peer address>" and appends the peer to log_file; runs until
  stopped.

`security` is "none", "starttls" or "tls" (implicit TLS). TLS is always verified against the
machine's trust store, for `tls_name` when the server is addressed by IP.
"""

from __future__ import annotations

import imaplib
import json
import os
import select
import smtplib
import socket
import ssl
import sys
import time
from collections.abc import Callable
from email.message import EmailMessage
from email.utils import formatdate
from pathlib import Path
from typing import Any, NoReturn

COMMAND = "mail-test-agent"
TIMEOUT = 30.0
# Below the kernel's initial retransmission timeout (1 s): one SYN per knock.
KNOCK_TIMEOUT = 0.8
FIRST_LINE_TIMEOUT = 10.0
HOLD_WAIT = 120.0
HOLD_READ = 30.0
HOLD_HELO = "hold.example.net"

Job = dict[str, Any]


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def _refusal(error: smtplib.SMTPException) -> dict[str, Any] | None:
    """The server's refusal as a result, or None if `error` is no refusal."""
    if isinstance(error, smtplib.SMTPResponseException):
        return {"accepted": False, "code": error.smtp_code, "text": _text(error.smtp_error)}
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        code, text = next(iter(error.recipients.values()))
        return {"accepted": False, "code": code, "text": _text(text)}
    return None


def _session(job: Job, seen: dict[str, Any] | None = None) -> smtplib.SMTP:
    """An SMTP session past the greeting and EHLO (and STARTTLS for "starttls"); what the server
    said on the way is written into `seen`."""
    seen = {} if seen is None else seen
    timeout = float(job.get("timeout") or TIMEOUT)
    server, port = str(job["server"]), int(job["port"])
    name = job.get("tls_name") or server
    security = job.get("security") or "none"
    raw = socket.create_connection((server, port), timeout)
    # A TLS context only for TLS: loading the trust store takes tens of milliseconds, and the
    # benchmarks time plain sends.
    if security == "tls":
        raw = ssl.create_default_context().wrap_socket(raw, server_hostname=name)
    # Without `helo`, smtplib says EHLO with the machine's FQDN.
    smtp = smtplib.SMTP(local_hostname=job.get("helo") or None, timeout=timeout)
    smtp.sock, smtp.file = raw, None
    code, greeting = smtp.getreply()
    seen["greeting"] = [code, _text(greeting)]
    if code != 220:
        smtp.close()
        raise smtplib.SMTPConnectError(code, greeting)
    smtp.ehlo()
    seen["keywords"], seen["auth"] = sorted(smtp.esmtp_features), smtp.esmtp_features.get("auth")
    if security == "starttls":
        smtp._host = name  # type: ignore[attr-defined]  # the name STARTTLS verifies
        code, text = smtp.starttls(context=ssl.create_default_context())
        seen["starttls"] = [code, _text(text)]
        smtp.ehlo()
        seen["keywords_after_starttls"] = sorted(smtp.esmtp_features)
        seen["auth_after_starttls"] = smtp.esmtp_features.get("auth")
    return smtp


def _message(job: Job) -> EmailMessage:
    message = EmailMessage()
    message["From"] = job.get("header_from") or job["sender"]
    message["To"] = job["recipient"]
    message["Subject"] = job["subject"]
    message["Message-ID"] = job["message_id"]
    message["Date"] = formatdate(localtime=False)
    message.set_content(job["body"])
    return message


def _message_file(path: str) -> bytes:
    """The file's message with CRLF line ends, as SMTP wants them (smtplib would add a CRLF after
    a final bare LF, i.e. an extra empty line at the end of the body)."""
    return Path(path).read_bytes().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def _lmtp(job: Job) -> smtplib.LMTP:
    """An LMTP session on the unix socket `lmtp_socket` (smtplib says LHLO before sending)."""
    return smtplib.LMTP(job["lmtp_socket"], timeout=float(job.get("timeout") or TIMEOUT))


def send(job: Job) -> dict[str, Any]:
    try:
        with _lmtp(job) if job.get("lmtp_socket") else _session(job) as smtp:
            login = job.get("login")
            if login:
                smtp.login(login["user"], login["password"])
            if job.get("message_file"):
                smtp.sendmail(job["sender"], [job["recipient"]], _message_file(job["message_file"]))
            else:
                smtp.send_message(_message(job), from_addr=job["sender"], to_addrs=[job["recipient"]])
    except (smtplib.SMTPResponseException, smtplib.SMTPRecipientsRefused) as error:
        refusal = _refusal(error)
        assert refusal is not None
        return refusal
    return {"accepted": True}


def probe(job: Job) -> dict[str, Any]:
    result: dict[str, Any] = {"replies": []}
    try:
        session = _session(job, result)
        for verb, argument in job.get("commands") or []:
            if verb == "DATA":
                code, text = session.data(argument)
            else:
                code, text = session.docmd(verb, argument)
            result["replies"].append([verb, code, _text(text)])
        session.close()
    except smtplib.SMTPResponseException as error:
        result["replies"].append(["(refused)", error.smtp_code, _text(error.smtp_error)])
    except (OSError, smtplib.SMTPException, ValueError) as error:
        result["error"] = f"{type(error).__name__}: {error}"
    return result


class NamedIMAP4SSL(imaplib.IMAP4_SSL):
    """IMAPS verified for `tls_name` while connected to the server's address."""

    def __init__(self, tls_name: str, host: str, port: int, timeout: float) -> None:
        self.tls_name = tls_name
        super().__init__(host, port, ssl_context=ssl.create_default_context(), timeout=timeout)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        raw = socket.create_connection((self.host, self.port), timeout)
        wrapped: socket.socket = self.ssl_context.wrap_socket(raw, server_hostname=self.tls_name)
        return wrapped


def imap_fetch(job: Job) -> dict[str, Any]:
    imap = NamedIMAP4SSL(
        job["tls_name"], job["server"], int(job["port"]), float(job.get("timeout") or TIMEOUT)
    )
    try:
        imap.login(job["user"], job["password"])
        imap.select("INBOX", readonly=True)
        status, found = imap.uid("SEARCH", "HEADER", "Message-ID", job["message_id"])
        uids = found[0].split() if status == "OK" and found and found[0] else []
        if not uids:
            return {"found": False}
        _, parts = imap.uid("FETCH", uids[-1], "(BODY.PEEK[])")
        body = next(part[1] for part in parts if isinstance(part, tuple))
        return {"found": True, "message": body.decode(errors="replace")}
    finally:
        imap.logout()


def burst(job: Job) -> dict[str, Any]:
    tag, count = str(job["tag"]), int(job["count"])
    accepted = 0
    with _session({**job, "security": "none"}) as smtp:
        for index in range(count):
            message = {
                **job,
                "subject": f"{tag} {index}",
                "message_id": f"<{tag}-{index}@{job['domain']}>",
                "body": f"Message {index} of the burst {tag}.\n",
            }
            smtp.send_message(_message(message), from_addr=job["sender"], to_addrs=[job["recipient"]])
            accepted += 1
    return {"accepted": accepted}


def _closed(connection: socket.socket) -> bool:
    """True if the peer has ended the connection (EOF or reset) without being asked anything."""
    if not select.select([connection], [], [], 0)[0]:
        return False
    try:
        return connection.recv(4096, socket.MSG_PEEK) == b""
    except OSError:
        return True


def hold(job: Job) -> dict[str, Any]:
    flag = str(job["flag"])
    read = float(job.get("read") or HOLD_READ)
    connection = socket.create_connection((job["server"], int(job["port"])), timeout=read)
    connection.recv(4096)  # the greeting
    connection.sendall(f"EHLO {job.get('helo') or HOLD_HELO}\r\n".encode())
    connection.recv(4096)
    Path(f"{flag}.connected").touch()
    deadline = time.monotonic() + float(job.get("wait") or HOLD_WAIT)
    while not os.path.exists(flag) and time.monotonic() < deadline:
        if _closed(connection):
            return {"outcome": "closed", "seconds": 0.0}
        time.sleep(0.1)
    started = time.monotonic()
    try:
        connection.sendall(b"NOOP\r\n")
        outcome = "reply" if connection.recv(4096) else "eof"
    except TimeoutError:
        outcome = "hang"
    except OSError:
        outcome = "reset"
    return {"outcome": outcome, "seconds": round(time.monotonic() - started, 2)}


def knock(job: Job) -> dict[str, Any]:
    address, port = str(job["address"]), int(job["port"])
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as connection:
        if job.get("source"):
            connection.bind((job["source"], 0))
        connection.settimeout(float(job.get("timeout") or KNOCK_TIMEOUT))
        try:
            connection.connect((address, port))
        except TimeoutError:
            return {"reply": "timeout"}
        except ConnectionRefusedError:
            return {"reply": "refused"}
        connection.settimeout(float(job.get("timeout") or FIRST_LINE_TIMEOUT))
        try:
            line = connection.recv(512).decode(errors="replace").splitlines()[0]
        except (OSError, IndexError):
            line = ""
        return {"reply": f"open {line}".strip()}


def serve(job: Job) -> NoReturn:
    server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    server.bind(("::", int(job["port"])))
    server.listen(16)
    log_file = Path(job["log_file"])
    log_file.write_text("")
    Path(job["ready_file"]).write_text(f"{job['port']}\n")
    while True:
        connection, peer = server.accept()
        with connection:
            address = peer[0].removeprefix("::ffff:")
            with log_file.open("a") as log:
                log.write(f"{address}\n")
            connection.sendall(f"{job['tag']} {address}\n".encode())


ACTIONS: dict[str, Callable[[Job], dict[str, Any]]] = {
    "send": send,
    "probe": probe,
    "imap_fetch": imap_fetch,
    "burst": burst,
    "hold": hold,
    "knock": knock,
    "serve": serve,
}


def main() -> None:
    if len(sys.argv) != 2:
        raise SystemExit(f"usage: {COMMAND} '<job as JSON>' (actions: {', '.join(ACTIONS)})")
    job = json.loads(sys.argv[1])
    action = ACTIONS.get(job.get("action"))
    if action is None:
        raise SystemExit(f"{COMMAND}: unknown action {job.get('action')!r}; one of {', '.join(ACTIONS)}")
    print(json.dumps(action(job)), flush=True)


if __name__ == "__main__":
    main()
