"""The one base class of errors a user can fix; the CLI prints their message on one line."""

from __future__ import annotations


class LabError(Exception):
    """Bad input or a state of the host or lab that the user can change; the message says how."""


__all__ = ["LabError"]
