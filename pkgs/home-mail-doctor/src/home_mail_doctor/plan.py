"""The plan a machine realized (/etc/home-mail/plan.json), as written by the modules or the lab.

The file is `lib.doctorPlan`'s output: `{ role, plan, mailName, domains, dkim, dnsbl, limits,
outsideAddresses }` (docs/design.md, "The doctor's plan"). Every name and path the checks need
is read from here; nothing is rebuilt from an interface or namespace name.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_PLAN_FILE = Path("/etc/home-mail/plan.json")
ROLES = ("gateway", "home")
REQUIRED = ("role", "plan", "mailName", "domains", "dnsbl", "limits", "outsideAddresses")


class PlanInputError(Exception):
    """The doctor's own input is unusable; printed as one line, exit 2."""


@dataclass(frozen=True)
class Dkim:
    selector: str
    key_file: str


@dataclass(frozen=True)
class Limits:
    handshake_warn: int  # seconds since the last WireGuard handshake
    handshake_fail: int
    certificate_warn_days: int
    queue_warn_age: int  # seconds the oldest deferred message may wait


@dataclass(frozen=True)
class DoctorPlan:
    role: str
    plan: dict[str, Any]
    mail_name: str
    domains: tuple[str, ...]
    dkim: Dkim | None
    dnsbl: tuple[str, ...]
    limits: Limits
    outside_ipv4: str
    outside_ipv6: str

    @property
    def forwarded(self) -> dict[str, list[str]]:
        """The forwarded addresses by family (the gateway forwards them, home holds them)."""
        key = "forwardedAddresses" if self.role == "gateway" else "addresses"
        value: dict[str, list[str]] = self.plan[key]
        return value

    @property
    def forwarded_all(self) -> list[str]:
        return [*self.forwarded["ipv4"], *self.forwarded["ipv6"]]


def parse(data: Any, source: str) -> DoctorPlan:
    if not isinstance(data, dict):
        raise PlanInputError(f"{source}: expected a JSON object, got {type(data).__name__}")
    missing = [key for key in REQUIRED if key not in data]
    if missing:
        raise PlanInputError(f"{source}: missing {', '.join(missing)}; rebuild with the home-mail modules")
    role = data["role"]
    if role not in ROLES:
        raise PlanInputError(f"{source}: unknown role {role!r}; expected one of {', '.join(ROLES)}")
    if not data["mailName"] or not data["domains"]:
        raise PlanInputError(
            f"{source}: no mail name or domains; set homeMail.doctor.mailName and homeMail.doctor.domains"
        )
    plan = data["plan"]
    if not isinstance(plan, dict) or plan.get("role") != role:
        raise PlanInputError(f"{source}: plan.role is not {role!r}; the file is not one plan of one role")
    try:
        dkim = data.get("dkim")
        limits = data["limits"]
        return DoctorPlan(
            role=role,
            plan=plan,
            mail_name=str(data["mailName"]).rstrip("."),
            domains=tuple(str(d) for d in data["domains"]),
            dkim=Dkim(selector=str(dkim["selector"]), key_file=str(dkim["keyFile"])) if dkim else None,
            dnsbl=tuple(str(z) for z in data["dnsbl"]),
            limits=Limits(
                handshake_warn=int(limits["handshakeWarn"]),
                handshake_fail=int(limits["handshakeFail"]),
                certificate_warn_days=int(limits["certificateWarnDays"]),
                queue_warn_age=int(limits["queueWarnAge"]),
            ),
            outside_ipv4=str(data["outsideAddresses"]["ipv4"]),
            outside_ipv6=str(data["outsideAddresses"]["ipv6"]),
        )
    except (KeyError, TypeError, ValueError) as error:
        raise PlanInputError(f"{source}: malformed ({type(error).__name__}: {error})") from None


def load(path: Path) -> DoctorPlan:
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise PlanInputError(
            f"{path}: no plan file; enable homeMail.gateway or homeMail.home (or pass --plan)"
        ) from None
    except OSError as error:
        raise PlanInputError(f"{path}: cannot read the plan ({error.strerror})") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as error:
        raise PlanInputError(f"{path}: not JSON ({error.msg} at line {error.lineno})") from None
    return parse(data, str(path))
