"""Sockets in a lab machine's network namespace, opened by the benchmark's own process.

A socket belongs to the network namespace its creator was in when it was created. `setns(2)`
moves only the calling thread, so the benchmark enters a machine's namespace just for the
`socket()`/`connect()` calls and comes back at once: timings are then taken in this process,
without spawning a program inside the machine for every message or probe.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import smtplib
import socket
from collections.abc import Iterator

CLONE_NEWNET = 0x40000000
_LIBC = ctypes.CDLL(None, use_errno=True)


def _setns(descriptor: int) -> None:
    if _LIBC.setns(descriptor, CLONE_NEWNET) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"setns: {os.strerror(error)}")


@contextlib.contextmanager
def network_namespace(path: str) -> Iterator[None]:
    """Sockets created in this block live in the namespace at `path` (e.g. /run/netns/<name>)."""
    own = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    try:
        target = os.open(path, os.O_RDONLY)
        try:
            _setns(target)
        finally:
            os.close(target)
        try:
            yield
        finally:
            _setns(own)
    finally:
        os.close(own)


def connect(namespace_path: str, address: str, port: int, timeout: float) -> socket.socket:
    """A TCP connection from inside the namespace (raises OSError like socket.create_connection)."""
    with network_namespace(namespace_path):
        return socket.create_connection((address, port), timeout=timeout)


def smtp_banner(namespace_path: str, address: str, port: int, timeout: float) -> bool:
    """True if a TCP connection opens and the server greets with 220 within `timeout`."""
    try:
        with connect(namespace_path, address, port, timeout) as connection:
            connection.settimeout(timeout)
            return connection.recv(512).startswith(b"220")
    except OSError:
        return False


class NamespacedSMTP(smtplib.SMTP):
    """smtplib.SMTP whose connection is made from inside a network namespace."""

    def __init__(self, namespace_path: str, host: str, port: int, local_hostname: str, timeout: float):
        self.namespace_path = namespace_path
        super().__init__(host, port, local_hostname=local_hostname, timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        return connect(self.namespace_path, host, port, timeout)
