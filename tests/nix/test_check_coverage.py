"""Every check of the plans (lib/) and every assertion and warning of the modules (modules/) has a
bad-input case that makes it fail, with the message the case asserts.

The checks are found by reading the Nix sources (check_sites.py: each `check`, `assertionAbout`
and `warnings = optional` call, with a pattern for its messages); the cases are those of
plan_cases.py (tests/nix/test_plan.py) and test_modules.MODULE_CASES. A new check without a case,
or a case whose message comes from no known check, fails here.
"""

from __future__ import annotations

import re
from pathlib import Path

from check_sites import CheckSite, check_sites, warning_sites
from nixeval import REPO, eval_json, needs_nix, needs_nixpkgs_lib
from plan_cases import ALL_CASES
from test_modules import MODULE_CASES, case_messages_expr
from test_plan import case_checks_expr

pytestmark = needs_nix

LIB_FILES = sorted(path for path in (REPO / "lib").glob("*.nix") if path.name != "checks.nix")
MODULE_FILES = sorted((REPO / "modules").rglob("*.nix"))
LIB_SITES = [site for path in LIB_FILES for site in check_sites(path, "check", REPO)]
MODULE_SITES = [
    site
    for path in MODULE_FILES
    for site in [*check_sites(path, "definitions.assertionAbout", REPO), *warning_sites(path, REPO)]
]
# What the stand-ins of nixpkgs' own modules (tests/nix/stubs) assert: a case may make them fail
# too, as nixpkgs would (e.g. a unit named dovecot2), without that being a check of ours.
NIXPKGS_MESSAGE_PREFIXES = ("services.dovecot2", "systemd.services.dovecot2:", "security.acme")
# Fixed text every message pattern must hold, so that no pattern matches just anything.
MIN_LITERAL_CHARACTERS = 20


def calls_in(files: list[Path], call: str) -> int:
    """How often `call` is applied in the files, by a plain line-by-line count (a cross-check)."""
    count = 0
    for path in files:
        for line in path.read_text().splitlines():
            if line.strip().startswith("#") or "inherit" in line:
                continue
            count += len(re.findall(rf"(?<![\w.'-]){re.escape(call)}\s+(?![=;\s])", line))
    return count


def sites_of(sites: list[CheckSite], message: str) -> list[str]:
    return [site.location for site in sites if site.matches(message)]


def uncovered(sites: list[CheckSite], messages: list[str]) -> list[str]:
    return [
        f"{site.location}: {site.message[:100]}" for site in sites if not any(map(site.matches, messages))
    ]


def test_the_checks_in_the_sources_are_all_found() -> None:
    lib_locations = {site.location for site in LIB_SITES}
    assert len(lib_locations) == calls_in(LIB_FILES, "check") >= 60
    assertions = [site for site in MODULE_SITES if site.path]
    assert (
        len({site.location for site in assertions})
        == calls_in(MODULE_FILES, "definitions.assertionAbout")
        >= 7
    )
    assert len(MODULE_SITES) - len(assertions) == sum(
        len(re.findall(r"\bwarnings\s*=", path.read_text())) for path in MODULE_FILES
    )
    # The endpoint check explains by kind (`explain.${kind}`): one site per explanation.
    assert sum(site.message.startswith("explain.") for site in LIB_SITES) == 7
    vague = [
        site.location
        for site in [*LIB_SITES, *MODULE_SITES]
        if len(site.literal_text) < MIN_LITERAL_CHARACTERS
    ]
    assert vague == []


def test_every_check_of_the_plans_has_a_bad_input_case() -> None:
    results: list[list[str]] = eval_json(
        "[ "
        + " ".join(
            f"(map (c: c.message) (builtins.filter (c: !c.assertion) ({case_checks_expr(case)})))"
            for case in ALL_CASES
        )
        + " ]"
    )
    asserted = [
        message
        for case, messages in zip(ALL_CASES, results, strict=True)
        for message in messages
        if message.startswith(f"{case.path}: ") and all(keyword in message for keyword in case.keywords)
    ]
    assert uncovered(LIB_SITES, asserted) == []
    unknown = [message for messages in results for message in messages if not sites_of(LIB_SITES, message)]
    assert unknown == [], "messages from a check the source scan did not find"


@needs_nixpkgs_lib
def test_every_assertion_and_warning_of_the_modules_has_a_bad_input_case() -> None:
    results: list[list[str]] = eval_json(
        "[ " + " ".join(f"({case_messages_expr(case)})" for case in MODULE_CASES) + " ]"
    )
    asserted = [
        message
        for case, messages in zip(MODULE_CASES, results, strict=True)
        for message in messages
        if message.startswith(case.prefix) and all(keyword in message for keyword in case.keywords)
    ]
    assert uncovered(MODULE_SITES, asserted) == []
    everything = [*LIB_SITES, *MODULE_SITES]
    unknown = [
        message
        for messages in results
        for message in messages
        if not sites_of(everything, message) and not message.startswith(NIXPKGS_MESSAGE_PREFIXES)
    ]
    assert unknown == [], "messages from a check the source scan did not find"
