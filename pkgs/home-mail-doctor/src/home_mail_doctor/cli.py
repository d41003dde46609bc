"""`home-mail-doctor [--plan FILE] [--json]` and `home-mail-doctor records`."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from home_mail_doctor import plan, records, report
from home_mail_doctor.checks import for_role
from home_mail_doctor.checks.context import Context

PLAN_ENV = "HOME_MAIL_DOCTOR_PLAN"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="home-mail-doctor",
        description="Hold this gateway or home against its home-mail plan; name the fix for every fault.",
    )
    parser.add_argument(
        "--plan",
        type=Path,
        default=Path(os.environ.get(PLAN_ENV, plan.DEFAULT_PLAN_FILE)),
        help=f"the plan file (default ${PLAN_ENV} or {plan.DEFAULT_PLAN_FILE})",
    )
    parser.add_argument("--json", action="store_true", help="print JSON (for monitoring)")
    parser.add_argument("command", nargs="?", choices=["check", "records"], default="check")
    args = parser.parse_args(argv)
    try:
        doctor = plan.load(args.plan)
        if args.command == "records":
            sys.stdout.write(records.render(doctor))
            return 0
        if os.geteuid() != 0:
            raise plan.PlanInputError("must run as root (it reads namespaces, WireGuard and keys)")
    except plan.PlanInputError as error:
        print(f"home-mail-doctor: {error}", file=sys.stderr)
        return 2
    checks = for_role(Context(doctor))
    rendered = report.render_json if args.json else report.render_table
    sys.stdout.write(rendered(doctor.role, checks) + ("\n" if args.json else ""))
    return report.exit_code(checks)
