"""The checks of each role; every check returns its rows and never changes the machine."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from home_mail_doctor.checks import deliverability, gateway, home
from home_mail_doctor.checks.context import Context
from home_mail_doctor.report import Check, Status

CheckFunction = Callable[[Context], list[Check]]


def run_all(context: Context, functions: Sequence[tuple[str, CheckFunction]]) -> list[Check]:
    """Every check's rows; a probe that fails is that check's failure, the others still run."""
    rows: list[Check] = []
    for name, function in functions:
        try:
            rows.extend(function(context))
        except Exception as error:
            rows.append(
                Check(
                    name,
                    Status.FAIL,
                    f"probe failed: {error}",
                    "the probe answers",
                    f"the probe itself failed; look at: {error}",
                )
            )
    return rows


def for_role(context: Context) -> list[Check]:
    role_checks = home.CHECKS if context.doctor.role == "home" else gateway.CHECKS
    return run_all(context, [*role_checks, *deliverability.CHECKS])
