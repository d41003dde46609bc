"""A TCP server for the lab tests: answers each connection with the peer address it sees.

    python3 echo_peer.py PORT READY_FILE

Listens on [::]:PORT for IPv4 and IPv6, writes READY_FILE once listening, and replies
"peer <address>\n" (IPv4 peers without the ::ffff: prefix), so a test can check for NAT.
Standard library only: it runs inside lab machines with the system python3.
"""

import socket
import sys
from pathlib import Path


def serve(port: int, ready_file: Path) -> None:
    server = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    server.bind(("::", port))
    server.listen(16)
    ready_file.write_text(f"{port}\n")
    while True:
        connection, peer = server.accept()
        with connection:
            address = peer[0].removeprefix("::ffff:")
            connection.sendall(f"peer {address}\n".encode())


if __name__ == "__main__":
    serve(int(sys.argv[1]), Path(sys.argv[2]))
