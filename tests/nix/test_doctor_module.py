"""modules/doctor.nix on both roles: the plan file the doctor reads, and the optional timer."""

from __future__ import annotations

import json
from typing import Any

import pytest
from nixeval import eval_json, needs_nixpkgs_lib

pytestmark = needs_nixpkgs_lib

TOPOLOGY = "(import ./tests/topology.nix { })"
DOCTOR_PACKAGE = "/nix/store/00000000000000000000000000000000-home-mail-doctor"
ROLES = {
    "gateway": (
        "./modules/wireguard-gateway.nix",
        f"{{ homeMail.gateway = {TOPOLOGY}.gatewayIntent // {{ enable = true; }}; }}",
    ),
    "home": (
        "./modules/mail-home",
        f"""{{ homeMail.home = builtins.removeAttrs {TOPOLOGY}.homeIntent [ "services" ]
             // {{ enable = true; }};
           services.postfix.enable = true; }}""",
    ),
}
DOCTOR = """{ homeMail.doctor = {
  mailName = "mail.example.org"; domains = [ "example.org" ]; dnsbl = [ "dnsbl.example.net" ];
  timer.enable = TIMER;
}; }"""


def config_of(role: str, attribute: str, timer: bool = True) -> Any:
    module, settings = ROLES[role]
    doctor = DOCTOR.replace("TIMER", "true" if timer else "false")
    return eval_json(
        f"(import ./tests/nix/stubs/evaluate.nix {{ modules = [ {module} ({settings}) ({doctor}) ]; }})"
        f".config.{attribute}"
    )


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_plan_file_is_lib_doctor_plan_of_the_realized_plan(role: str) -> None:
    etc = config_of(role, 'environment.etc."home-mail/plan.json"')
    assert etc["mode"] == "0600"
    written = json.loads(etc["text"])
    assert written.pop("plan") == config_of(role, f"homeMail.{role}.plan")
    expected = eval_json(
        f"""builtins.removeAttrs ((import ./lib).doctorPlan {{
          plan = {TOPOLOGY}.plans.{role}; mailName = "mail.example.org"; domains = [ "example.org" ];
          dnsbl = [ "dnsbl.example.net" ]; dkim = null;
        }}) [ "plan" ]"""
    )
    assert written == expected
    assert written["role"] == role
    assert DOCTOR_PACKAGE in config_of(role, "environment.systemPackages")


@pytest.mark.parametrize("role", sorted(ROLES))
def test_the_timer_runs_the_doctor_as_a_unit_that_fails_on_a_failed_check(role: str) -> None:
    service = config_of(role, "systemd.services.home-mail-doctor")
    assert service["serviceConfig"]["Type"] == "oneshot"
    assert service["serviceConfig"]["ExecStart"] == f"{DOCTOR_PACKAGE}/bin/home-mail-doctor"
    # Exit 1 (warnings) is success; exit 2 (a failed check) fails the unit.
    assert service["serviceConfig"]["SuccessExitStatus"] == [1]
    # The queue check's postqueue at home; the gateway runs no postfix.
    postfix = ["/nix/store/00000000000000000000000000000000-postfix"] if role == "home" else []
    assert service["path"] == postfix
    timer = config_of(role, "systemd.timers.home-mail-doctor")
    assert timer["wantedBy"] == ["timers.target"]
    assert timer["timerConfig"] == {"OnCalendar": "hourly", "Persistent": True}


@pytest.mark.parametrize("role", sorted(ROLES))
def test_without_the_timer_there_is_no_doctor_unit(role: str) -> None:
    assert "home-mail-doctor" not in config_of(role, "systemd.services", timer=False)
    assert "home-mail-doctor" not in config_of(role, "systemd.timers", timer=False)
