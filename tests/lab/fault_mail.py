"""Run inside a lab machine (stdlib only): send a burst of tagged messages, or one message file.

    python3 fault_mail.py burst SERVER PORT SENDER RECIPIENT TAG COUNT
    python3 fault_mail.py file SERVER PORT SENDER RECIPIENT PATH

Prints one JSON line: {"accepted": n} for a burst, {"code": c, "text": t} for a file (250 when
accepted). Plain SMTP, no TLS: it talks to the machine's own MTA or to a public address on port 25.
"""

from __future__ import annotations

import json
import smtplib
import sys
from email.message import EmailMessage

TIMEOUT = 300


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


def main() -> None:
    mode, server, port, sender, recipient, *rest = sys.argv[1:]
    if mode == "burst":
        result: dict[str, object] = dict(burst(server, int(port), sender, recipient, rest[0], int(rest[1])))
    else:
        result = send_file(server, int(port), sender, recipient, rest[0])
    print(json.dumps(result))


if __name__ == "__main__":
    main()
