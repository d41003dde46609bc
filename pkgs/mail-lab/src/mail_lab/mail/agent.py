"""A mail client run *inside* a machine by `mail_lab.mail.flow` (standard library only).

mail.flow sends this file's source to the machine's own `python3` with one JSON argument, so it
works wherever a test driver can run a shell command. The result is one JSON object on stdout.

Actions:
- `send`: submit one message over SMTP (`security`: "none", "starttls" or "tls" = implicit TLS),
  optionally with AUTH; the reply to DATA is returned, or the refusal (code and text).
- `ehlo`: the EHLO keywords before and, if offered, after STARTTLS.
- `imap_fetch`: log in over IMAPS and return the message with a given Message-ID, if present.

TLS is always verified against the machine's trust store; `tls_name` is the name the certificate
must carry when the server is addressed by IP.
"""

from __future__ import annotations

import imaplib
import json
import smtplib
import socket
import ssl
import sys
from email.message import EmailMessage
from email.utils import formatdate
from typing import Any

TIMEOUT = 30


class NamedSMTP(smtplib.SMTP):
    """SMTP whose TLS (STARTTLS) checks the certificate for `tls_name`, not for the address."""

    def __init__(self, tls_name: str | None, **kwargs: Any) -> None:
        self.tls_name = tls_name
        super().__init__(**kwargs)

    def connect(self, host: str = "localhost", port: int = 0, source_address: Any = None) -> Any:
        reply = super().connect(host, port, source_address)
        self._host = self.tls_name or host
        return reply


class NamedSMTPS(smtplib.SMTP_SSL):
    """Implicit-TLS SMTP verified for `tls_name`."""

    def __init__(self, tls_name: str | None, **kwargs: Any) -> None:
        self.tls_name = tls_name
        super().__init__(**kwargs)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        raw = socket.create_connection((host, port), timeout)
        return self.context.wrap_socket(raw, server_hostname=self.tls_name or host)


def open_smtp(job: dict[str, Any]) -> smtplib.SMTP:
    context = ssl.create_default_context()
    if job["security"] == "tls":
        smtp: smtplib.SMTP = NamedSMTPS(job.get("tls_name"), context=context, timeout=TIMEOUT)
    else:
        smtp = NamedSMTP(job.get("tls_name"), timeout=TIMEOUT)
    smtp.connect(job["server"], job["port"])
    smtp.ehlo(job.get("helo") or "")
    if job["security"] == "starttls":
        smtp.starttls(context=context)
        smtp.ehlo(job.get("helo") or "")
    return smtp


def build_message(job: dict[str, Any]) -> EmailMessage:
    message = EmailMessage()
    message["From"] = job.get("header_from") or job["sender"]
    message["To"] = job["recipient"]
    message["Subject"] = job["subject"]
    message["Message-ID"] = job["message_id"]
    message["Date"] = formatdate(localtime=False)
    message.set_content(job["body"])
    return message


def as_text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def send(job: dict[str, Any]) -> dict[str, Any]:
    try:
        with open_smtp(job) as smtp:
            login = job.get("login")
            if login:
                smtp.login(login["user"], login["password"])
            smtp.send_message(build_message(job), from_addr=job["sender"], to_addrs=[job["recipient"]])
            return {"accepted": True, "message_id": job["message_id"]}
    except smtplib.SMTPResponseException as error:
        return {"accepted": False, "code": error.smtp_code, "text": as_text(error.smtp_error)}
    except smtplib.SMTPRecipientsRefused as error:
        code, text = next(iter(error.recipients.values()))
        return {"accepted": False, "code": code, "text": as_text(text)}


def ehlo(job: dict[str, Any]) -> dict[str, Any]:
    """EHLO keywords (lower case) and the AUTH mechanisms, before and after STARTTLS."""
    plain_job = {**job, "security": "none" if job["security"] == "starttls" else job["security"]}
    with open_smtp(plain_job) as smtp:
        result: dict[str, Any] = {
            "keywords": sorted(smtp.esmtp_features),
            "auth": smtp.esmtp_features.get("auth"),
        }
        if job["security"] == "starttls" and smtp.has_extn("starttls"):
            smtp.starttls(context=ssl.create_default_context())
            smtp.ehlo(job.get("helo") or "")
            result["keywords_after_starttls"] = sorted(smtp.esmtp_features)
            result["auth_after_starttls"] = smtp.esmtp_features.get("auth")
        return result


class NamedIMAP4SSL(imaplib.IMAP4_SSL):
    """IMAPS verified for `tls_name` while connected to the server's address."""

    def __init__(self, tls_name: str, host: str, port: int) -> None:
        self.tls_name = tls_name
        super().__init__(host, port, ssl_context=ssl.create_default_context(), timeout=TIMEOUT)

    def _create_socket(self, timeout: float | None) -> socket.socket:
        raw = socket.create_connection((self.host, self.port), timeout)
        wrapped: socket.socket = self.ssl_context.wrap_socket(raw, server_hostname=self.tls_name)
        return wrapped


def imap_fetch(job: dict[str, Any]) -> dict[str, Any]:
    imap = NamedIMAP4SSL(job["tls_name"], job["server"], job["port"])
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


ACTIONS = {"send": send, "ehlo": ehlo, "imap_fetch": imap_fetch}


def main() -> None:
    job = json.loads(sys.argv[1])
    print(json.dumps(ACTIONS[job["action"]](job)))


if __name__ == "__main__":
    main()
