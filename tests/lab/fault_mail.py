"""Run inside a lab machine (stdlib only): send a burst of tagged messages, or one message file.

    python3 fault_mail.py burst SERVER PORT SENDER RECIPIENT TAG COUNT
    python3 fault_mail.py file SERVER PORT SENDER RECIPIENT PATH
    python3 fault_mail.py hold SERVER PORT FLAG

Prints one JSON line: {"accepted": n} for a burst, {"code": c, "text": t} for a file (250 when
accepted), {"outcome": o, "seconds": s} for hold. Plain SMTP, no TLS: it talks to the machine's
own MTA or to a public address on port 25.

hold: opens an SMTP session, says EHLO, creates FLAG.connected, waits (at most HOLD_WAIT s) for
FLAG to exist, then sends NOOP and reads the answer (at most HOLD_READ s). The outcome says what
became of the session: "closed" (the server ended it before FLAG), "reset" or "eof" (after NOOP),
"reply" (the server still answers), "hang" (no answer in time).
"""

from __future__ import annotations

import json
import os
import select
import smtplib
import socket
import sys
import time
from email.message import EmailMessage

TIMEOUT = 300
HOLD_WAIT = 120.0
HOLD_READ = 30.0


def burst(server: str, port: int, sender: str, recipient: str, tag: str, count: int) -> dict[str, int]:  # noqa: PLR0917
    accepted = 0
    with smtplib.SMTP(server, port, timeout=TIMEOUT) as smtp:
        smtp.ehlo("fault-test.example.net")
        for index in range(count):
            message = EmailMessage()
            message["From"] = sender
            message["To"] = recipient
            message["Subject"] = f"{tag} {index}"
            message["Message-ID"] = f"<{tag}-{index}@fault.test>"
            message.set_content(f"Message {index} of the burst {tag}.\n")
            smtp.send_message(message)
            accepted += 1
    return {"accepted": accepted}


def send_file(server: str, port: int, sender: str, recipient: str, path: str) -> dict[str, object]:
    with open(path, "rb") as source:
        # CRLF line ends as SMTP wants them: smtplib would add a CRLF after a final bare LF,
        # i.e. an extra empty line at the end of the body.
        data = source.read().replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    try:
        with smtplib.SMTP(server, port, timeout=TIMEOUT) as smtp:
            smtp.ehlo("fault-test.example.net")
            smtp.sendmail(sender, [recipient], data)
    except smtplib.SMTPResponseException as error:
        reply = error.smtp_error
        return {
            "code": error.smtp_code,
            "text": reply.decode(errors="replace") if isinstance(reply, bytes) else reply,
        }
    except smtplib.SMTPRecipientsRefused as error:
        code, text = next(iter(error.recipients.values()))
        return {"code": code, "text": text.decode(errors="replace") if isinstance(text, bytes) else text}
    return {"code": 250, "text": "accepted"}


def _closed(connection: socket.socket) -> bool:
    """True if the peer has ended the connection (EOF or reset) without being asked anything."""
    if not select.select([connection], [], [], 0)[0]:
        return False
    try:
        return connection.recv(4096, socket.MSG_PEEK) == b""
    except OSError:
        return True


def hold(server: str, port: int, flag: str) -> dict[str, object]:
    connection = socket.create_connection((server, port), timeout=HOLD_READ)
    connection.recv(4096)  # the greeting
    connection.sendall(b"EHLO fault-test.example.net\r\n")
    connection.recv(4096)
    open(f"{flag}.connected", "w").close()
    deadline = time.monotonic() + HOLD_WAIT
    while not os.path.exists(flag) and time.monotonic() < deadline:
        if _closed(connection):
            return {"outcome": "closed", "seconds": 0.0}
        time.sleep(0.1)
    started = time.monotonic()
    try:
        connection.sendall(b"NOOP\r\n")
        answer = connection.recv(4096)
        outcome = "reply" if answer else "eof"
    except TimeoutError:
        outcome = "hang"
    except OSError:
        outcome = "reset"
    return {"outcome": outcome, "seconds": round(time.monotonic() - started, 2)}


def main() -> None:
    if sys.argv[1] == "hold":
        print(json.dumps(hold(sys.argv[2], int(sys.argv[3]), sys.argv[4])))
        return
    mode, server, port, sender, recipient, *rest = sys.argv[1:]
    if mode == "burst":
        result: dict[str, object] = dict(burst(server, int(port), sender, recipient, rest[0], int(rest[1])))
    else:
        result = send_file(server, int(port), sender, recipient, rest[0])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
