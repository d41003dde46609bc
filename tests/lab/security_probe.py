"""Attack tools for tests/lab/test_security.py, run *inside* lab machines (standard library only).

python3 security_probe.py smtp JOB_JSON
    One SMTP conversation; prints one JSON object: the greeting, the EHLO keywords, and the
    reply (code, text) to each command of the job. A connection that fails or a server that
    hangs up is reported as `error`, never as an exception.
    JOB: {"server", "port", "security": "none"|"starttls"|"tls", "tls_name", "helo",
          "timeout", "commands": [[verb, argument], ...]}; the verb "DATA" sends the argument
          as the message and records the reply after the final dot.

python3 security_probe.py knock ADDRESS PORT [SOURCE]
    One TCP connection attempt that sends a single SYN (it gives up before the kernel would
    retransmit it), from SOURCE if given; prints "open <the server's first line>", "refused" or
    "timeout", so that a test can attribute exactly one dropped packet to each attempt.

python3 security_probe.py serve PORT TAG READY_FILE LOG_FILE
    A TCP server on [::]:PORT (IPv4 and IPv6) that answers each connection with
    "TAG <peer address>" and appends the peer address to LOG_FILE, so a test can tell which
    listener a connection reached and whether any connection reached it at all.
"""

from __future__ import annotations

import json
import smtplib
import socket
import ssl
import sys
from pathlib import Path
from typing import Any


def _text(reply: bytes | str) -> str:
    return reply.decode(errors="replace") if isinstance(reply, bytes) else reply


def _open(job: dict[str, Any], result: dict[str, Any]) -> smtplib.SMTP:
    timeout = float(job.get("timeout", 10))
    server, port, name = job["server"], int(job["port"]), job.get("tls_name") or job["server"]
    context = ssl.create_default_context()
    raw = socket.create_connection((server, port), timeout)
    if job["security"] == "tls":
        raw = context.wrap_socket(raw, server_hostname=name)
    smtp = smtplib.SMTP(timeout=timeout)
    smtp.sock = raw
    smtp.file = None
    code, greeting = smtp.getreply()
    result["greeting"] = [code, _text(greeting)]
    smtp.ehlo(job.get("helo") or "probe.example.net")
    result["keywords"] = sorted(smtp.esmtp_features)
    result["auth"] = smtp.esmtp_features.get("auth")
    if job["security"] == "starttls":
        smtp._host = name  # type: ignore[attr-defined]  # the name STARTTLS verifies
        code, text = smtp.starttls(context=context)
        result["starttls"] = [code, _text(text)]
        smtp.ehlo(job.get("helo") or "probe.example.net")
        result["keywords_after_starttls"] = sorted(smtp.esmtp_features)
        result["auth_after_starttls"] = smtp.esmtp_features.get("auth")
    return smtp


def smtp(job: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = {"replies": []}
    try:
        session = _open(job, result)
        for verb, argument in job.get("commands", []):
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


# Below the kernel's initial retransmission timeout (1 s): one SYN per attempt.
KNOCK_TIMEOUT_SECONDS = 0.8
FIRST_LINE_TIMEOUT_SECONDS = 10.0


def knock(address: str, port: int, source: str | None) -> str:
    family = socket.AF_INET6 if ":" in address else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as connection:
        if source:
            connection.bind((source, 0))
        connection.settimeout(KNOCK_TIMEOUT_SECONDS)
        try:
            connection.connect((address, port))
        except TimeoutError:
            return "timeout"
        except ConnectionRefusedError:
            return "refused"
        connection.settimeout(FIRST_LINE_TIMEOUT_SECONDS)
        try:
            line = connection.recv(512).decode(errors="replace").splitlines()[0]
        except (OSError, IndexError):
            line = ""
        return f"open {line}".strip()


def serve(port: int, tag: str, ready_file: Path, log_file: Path) -> None:
    server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    server.bind(("::", port))
    server.listen(16)
    log_file.write_text("")
    ready_file.write_text(f"{port}\n")
    while True:
        connection, peer = server.accept()
        with connection:
            address = peer[0].removeprefix("::ffff:")
            with log_file.open("a") as log:
                log.write(f"{address}\n")
            connection.sendall(f"{tag} {address}\n".encode())


def main() -> None:
    if sys.argv[1] == "smtp":
        print(json.dumps(smtp(json.loads(sys.argv[2]))))
    elif sys.argv[1] == "knock":
        print(knock(sys.argv[2], int(sys.argv[3]), sys.argv[4] if len(sys.argv) > 4 else None))
    elif sys.argv[1] == "serve":
        serve(int(sys.argv[2]), sys.argv[3], Path(sys.argv[4]), Path(sys.argv[5]))
    else:
        raise SystemExit(f"unknown action {sys.argv[1]!r}")


if __name__ == "__main__":
    main()
