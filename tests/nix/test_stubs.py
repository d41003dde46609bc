"""The stand-ins of nixpkgs' NixOS modules (tests/nix/stubs) refuse what nixos-26.05 refuses.

Each case is a configuration nixpkgs' own module rejects, by its option types or its assertions
(read from nixpkgs' nixos/modules sources); the stand-ins before this file accepted every one of
them, so a module bug of that kind passed every evaluation test. Each case evaluates one thing
and expects nixpkgs' outcome: a type error, a missing required setting, or a failing assertion.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest
from nixeval import eval_error, eval_json, needs_nixpkgs_lib

pytestmark = needs_nixpkgs_lib

STUBS = "./tests/nix/stubs"
# A Dovecot 2.3 package as nixpkgs' dovecot_2_3 (what its module's version test reads).
DOVECOT_23_PACKAGE = """{ lib, ... }: {
  services.dovecot2.package = lib.mkForce {
    type = "derivation"; name = "dovecot-2.3.21"; pname = "dovecot"; version = "2.3.21";
    outPath = "/nix/store/00000000000000000000000000000000-dovecot-2.3.21";
  };
}"""
DOVECOT_24_VERSIONS = """{
  services.dovecot2.settings = { dovecot_config_version = "2.4.2"; dovecot_storage_version = "2.4.2"; };
}"""
ACME_ACCOUNT = '{ security.acme = { acceptTerms = true; defaults.email = "postmaster@example.org"; }; }'


@dataclass(frozen=True)
class Refused:
    """`modules` evaluated against the stand-ins: `attribute` of config fails with an error that
    contains `error`, or (attribute None) a failing assertion starts with `error`."""

    id: str
    modules: tuple[str, ...]
    error: str
    attribute: str | None = None


def evaluation(modules: tuple[str, ...]) -> str:
    listed = " ".join(f"({module})" for module in modules)
    return f"(import {STUBS}/evaluate.nix {{ modules = [ {listed} ]; }}).config"


def failing_assertions(modules: tuple[str, ...]) -> list[str]:
    messages: list[str] = eval_json(
        f"map (a: a.message) (builtins.filter (a: !a.assertion) {evaluation(modules)}.assertions)"
    )
    return messages


CASES = [
    # postfix: main.cf values are booleans, numbers, paths, strings or lists of strings.
    Refused(
        "postfix-main-nested-set",
        ('{ services.postfix.settings.main.smtpd_tls = { level = "may"; }; }',),
        "is not of type",
        "services.postfix.settings.main",
    ),
    Refused(
        "postfix-main-list-of-numbers",
        ("{ services.postfix.settings.main.lmtp_destination_concurrency_limit = [ 1 ]; }",),
        "is not of type",
        "services.postfix.settings.main",
    ),
    # dovecot: settings are typed values and sections, some of them declared.
    Refused(
        "dovecot-settings-float",
        ("{ services.dovecot2.settings.mail_max_userip_connections = 1.5; }",),
        "is not of type",
        "services.dovecot2.settings",
    ),
    Refused(
        "dovecot-settings-empty-list",
        ('{ services.dovecot2.settings."protocol lmtp".mail_plugins = [ ]; }',),
        "is not of type",
        "services.dovecot2.settings",
    ),
    Refused(
        "dovecot-settings-relative-base-dir",
        ('{ services.dovecot2.settings.base_dir = "run/dovecot2"; }',),
        "is not of type",
        "services.dovecot2.settings.base_dir",
    ),
    # dovecot 2.4 (the default package from system.stateVersion 26.05 on).
    Refused(
        "dovecot-24-without-config-version",
        ("{ services.dovecot2.enable = true; }",),
        "attribute 'dovecot_config_version' missing",
        "assertions",
    ),
    Refused(
        "dovecot-24-without-storage-version",
        ('{ services.dovecot2 = { enable = true; settings.dovecot_config_version = "2.4.2"; }; }',),
        "attribute 'dovecot_storage_version' missing",
        "assertions",
    ),
    *(
        Refused(
            f"dovecot-24-{option}",
            ("{ services.dovecot2.enable = true; }", DOVECOT_24_VERSIONS, setting),
            f"services.dovecot2{prefix}",
        )
        for option, setting, prefix in [
            (
                "sieve-extensions",
                '{ services.dovecot2.sieve.extensions = [ "notify" ]; }',
                ".sieve.extensions:",
            ),
            (
                "sieve-global-extensions",
                '{ services.dovecot2.sieve.globalExtensions = [ "vnd.dovecot.environment" ]; }',
                ".sieve.globalExtensions:",
            ),
            (
                "imapsieve",
                '{ services.dovecot2.imapsieve.mailbox = [ { name = "Junk"; } ]; }',
                ".imapsieve.mailbox:",
            ),
            (
                "sieve-scripts",
                '{ services.dovecot2 = { sieve.scripts.before = "/etc/dovecot/a.sieve"; '
                'settings = { mail_uid = "vmail"; mail_gid = "vmail"; }; }; }',
                ".sieve.scripts: not valid with Dovecot 2.4",
            ),
            (
                "mail-plugins",
                '{ services.dovecot2.mailPlugins.globally.enable = [ "acl" ]; }',
                ".mailPlugins:",
            ),
        ]
    ),
    # dovecot 2.3: sieve.scripts are compiled and chowned to settings.mail_uid/mail_gid.
    Refused(
        "dovecot-23-sieve-scripts-without-mail-uid",
        (
            '{ services.dovecot2 = { enable = true; sieve.scripts.before = "/etc/dovecot/a.sieve"; }; }',
            DOVECOT_23_PACKAGE,
        ),
        "attribute 'mail_uid' missing",
        "assertions",
    ),
    Refused(
        "dovecot-23-sieve-scripts-mail-gid-null",
        (
            '{ services.dovecot2 = { enable = true; sieve.scripts.before = "/etc/dovecot/a.sieve"; '
            'settings = { mail_uid = "vmail"; mail_gid = null; }; }; }',
            DOVECOT_23_PACKAGE,
        ),
        "services.dovecot2.sieve.scripts: needs services.dovecot2.settings.mail_uid and mail_gid",
    ),
    Refused(
        "dovecot2-unit",
        (
            "{ services.dovecot2.enable = true; }",
            DOVECOT_24_VERSIONS,
            '{ systemd.services.dovecot2.after = [ "network.target" ]; }',
        ),
        "systemd.services.dovecot2:",
    ),
    # security.acme: the terms, an account email, exactly one way to answer the challenge.
    Refused(
        "acme-terms-not-accepted",
        ('{ security.acme.certs."mail.example.org" = { email = "a@example.org"; listenHTTP = ":80"; }; }',),
        "security.acme.acceptTerms:",
    ),
    Refused(
        "acme-no-email",
        ('{ security.acme = { acceptTerms = true; certs."mail.example.org".listenHTTP = ":80"; }; }',),
        "security.acme: set security.acme.certs.<name>.email",
    ),
    Refused(
        "acme-no-challenge",
        (ACME_ACCOUNT, '{ security.acme.certs."mail.example.org" = { }; }'),
        "security.acme.certs.mail.example.org: exactly one of",
    ),
    Refused(
        "acme-two-challenges-one-inherited",
        (
            ACME_ACCOUNT,
            '{ security.acme.defaults.webroot = "/var/lib/acme/acme-challenge"; }',
            '{ security.acme.certs."mail.example.org".listenHTTP = ":80"; }',
        ),
        "security.acme.certs.mail.example.org: exactly one of",
    ),
    # networking: an IPv4 prefix has at most 32 bits; an nftables table needs its content.
    Refused(
        "ipv4-prefix-over-32",
        (
            "{ networking.interfaces.eth0.ipv4.addresses = "
            '[ { address = "198.51.100.10"; prefixLength = 64; } ]; }',
        ),
        "is not of type",
        "networking.interfaces.eth0.ipv4.addresses",
    ),
    Refused(
        "nftables-table-without-content",
        ('{ networking.nftables.tables.filter.family = "inet"; }',),
        "has no value defined",
        "networking.nftables.tables.filter.content",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=lambda case: case.id)
def test_what_nixpkgs_refuses_the_stand_ins_refuse(case: Refused) -> None:
    if case.attribute is None:
        messages = failing_assertions(case.modules)
        assert any(message.startswith(case.error) for message in messages), messages
    else:
        assert case.error in eval_error(f"{evaluation(case.modules)}.{case.attribute}")


def test_the_cases_are_refused_only_for_their_fault() -> None:
    """Without the one setting at fault, each assertion case passes every assertion (so the case
    shows the check, not another failure)."""
    valid = [
        ("{ services.dovecot2.enable = true; }", DOVECOT_24_VERSIONS),
        (
            "{ services.dovecot2.enable = true; }",
            '{ services.dovecot2.settings = { mail_uid = "vmail"; mail_gid = "vmail"; }; }',
            DOVECOT_23_PACKAGE,
            '{ services.dovecot2.sieve.scripts.before = "/etc/dovecot/a.sieve"; }',
        ),
        (ACME_ACCOUNT, '{ security.acme.certs."mail.example.org".listenHTTP = ":80"; }'),
    ]
    for modules in valid:
        assert failing_assertions(modules) == [], modules


def test_dovecot_follows_the_state_version_and_certificates_inherit_the_defaults() -> None:
    for state_version, dovecot in (("25.11", "2.3.21"), ("26.05", "2.4.2")):
        config = evaluation((f'{{ system.stateVersion = "{state_version}"; }}',))
        assert eval_json(f"{config}.services.dovecot2.package.version") == dovecot
    certificate = f"{evaluation((ACME_ACCOUNT, '{ security.acme.certs.a = { }; }'))}.security.acme.certs.a"
    assert eval_json(f"{certificate}.email") == "postmaster@example.org"
    assert eval_json(f"{certificate}.server") == "https://acme-v02.api.letsencrypt.org/directory"


def test_systemd_targets_are_declared_with_unit_options() -> None:
    target = '{ systemd.targets.mail = { wantedBy = [ "multi-user.target" ]; after = [ "a.service" ]; }; }'
    assert eval_json(f"{evaluation((target,))}.systemd.targets.mail.wantedBy") == ["multi-user.target"]
    no_commands = '{ systemd.targets.mail.serviceConfig.ExecStart = "true"; }'
    assert "does not exist" in eval_error(f"{evaluation((no_commands,))}.systemd.targets")
