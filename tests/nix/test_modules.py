"""The NixOS modules, evaluated with nixpkgs' lib.evalModules against stand-in NixOS options.

tests/nix/stubs declares the NixOS options the modules set (systemd.services, networking.*,
boot.kernel.sysctl, environment.etc, services.*, security.acme, assertions) with types close to
nixpkgs', so the modules' output can be checked without nixpkgs itself: it must be what the plans
of lib/ say (the same plans the lab realizes), and bad input must fail with assertions that name
the option.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass
from typing import Any, Literal

import pytest
from nixeval import eval_error, eval_json, needs_nixpkgs_lib, nix_string, nix_value

pytestmark = needs_nixpkgs_lib

EVALUATE = "(modules: import ./tests/nix/stubs/evaluate.nix { inherit modules; })"
TOPOLOGY = "(import ./tests/topology.nix { })"
HOME_MODULE = "./modules/mail-home"
GATEWAY_MODULE = "./modules/wireguard-gateway.nix"
NETNS_MODULE = "./modules/netns.nix"
# The stand-in packages of tests/nix/stubs/arguments.nix, as lib.renderUnit takes them.
PROGRAMS = {
    "ip": "/nix/store/00000000000000000000000000000000-iproute2/bin/ip",
    "nsenter": "/nix/store/00000000000000000000000000000000-util-linux/bin/nsenter",
    "sysctl": "/nix/store/00000000000000000000000000000000-procps/bin/sysctl",
    "nft": "/nix/store/00000000000000000000000000000000-nftables/bin/nft",
}

# What nixpkgs' dovecot module needs of every configuration (simple-nixos-mailserver's or a plain
# one): Dovecot 2.4 the versions of its configuration and storage format, 2.3's sieve.scripts the
# owner of the mail.
DOVECOT_SETTINGS = """{ config, lib, ... }: {
  services.dovecot2.settings = lib.mkMerge [
    { mail_uid = "vmail"; mail_gid = "vmail"; }
    (lib.mkIf (lib.versionAtLeast config.services.dovecot2.package.version "2.4") {
      dovecot_config_version = "2.4.2";
      dovecot_storage_version = "2.4.2";
    })
  ];
}"""
# The home of the test world (its intent minus `services`, which the module derives from what is
# enabled) with the services of simple-nixos-mailserver enabled.
HOME = f"""{{
  imports = [ ({DOVECOT_SETTINGS}) ];
  homeMail.home = builtins.removeAttrs {TOPOLOGY}.homeIntent [ "services" ] // {{ enable = true; }};
  services.postfix.enable = true;
  services.dovecot2.enable = true;
  services.kresd.enable = true;
  services.rspamd.enable = true;
}}"""
GATEWAY = f"""{{
  homeMail.gateway = {TOPOLOGY}.gatewayIntent // {{ enable = true; }};
}}"""
# The test world's certificate (its intent confines the order unit).
ACME_HOME = """{
  homeMail.home.acmeCertificates = [ "mail.example.org" ];
  security.acme.acceptTerms = true;
  security.acme.certs."mail.example.org".email = "postmaster@example.org";
}"""
WORLD_HOME_PLAN = f"{TOPOLOGY}.plans.home"
# Dovecot 2.3: nixpkgs' default package (dovecot_2_3) below system.stateVersion 26.05.
DOVECOT_23 = '{ system.stateVersion = "25.11"; }'
# The settings this module adds to services.dovecot2.settings (Dovecot 2.4).
OWN_DOVECOT_SETTINGS = ("sieve_script home_mail_drop_duplicates", "protocol lmtp")
WORLD_GATEWAY_PLAN = f"{TOPOLOGY}.plans.gateway"

# homeMail.doctor.package: the doctor is on PATH of both roles (the stand-in callPackage).
DOCTOR_PACKAGE = "/nix/store/00000000000000000000000000000000-home-mail-doctor"


def config_of(*modules: str, attribute: str) -> Any:
    """`config.<attribute>` of the modules (Nix expressions) evaluated against the stand-ins."""
    return eval_json(f"({EVALUATE} [ {' '.join(f'({module})' for module in modules)} ]).config.{attribute}")


def failing_messages(*modules: str) -> list[str]:
    messages: list[str] = eval_json(
        f"map (a: a.message) (builtins.filter (a: !a.assertion) "
        f"({EVALUATE} [ {' '.join(f'({module})' for module in modules)} ]).config.assertions)"
    )
    return messages


def rendered(plan_unit: str) -> Any:
    """A unit of a plan with its commands rendered as the modules render them."""
    return eval_json(f"(import ./lib).renderUnit {nix_value(PROGRAMS)} ({plan_unit})")


def assert_unit_contains(unit: dict[str, Any], expected: dict[str, Any]) -> None:
    """Every setting of `expected` is in `unit` with the same value (lists in the same order)."""
    for key, value in expected.items():
        if key == "serviceConfig":
            for setting, setting_value in value.items():
                assert unit["serviceConfig"].get(setting) == setting_value, setting
        else:
            assert unit[key] == value, key


def with_message(messages: list[str], prefix: str, *keywords: str) -> str:
    matching = [message for message in messages if message.startswith(prefix)]
    assert matching, f"no failing assertion starts with {prefix!r}: {messages}"
    for message in matching:
        if all(keyword in message for keyword in keywords):
            return message
    raise AssertionError(f"no message for {prefix!r} contains {keywords}: {matching}")


# --- home -----------------------------------------------------------------------------------------


def test_the_test_world_home_passes_every_assertion() -> None:
    assert failing_messages(HOME_MODULE, HOME) == []


def test_home_plan_is_the_test_worlds_plan() -> None:
    """Options equal to the test world's intent give the plan the lab builds, unit for unit."""
    module_plan = config_of(HOME_MODULE, HOME, ACME_HOME, attribute="homeMail.home.plan")
    assert module_plan == eval_json(WORLD_HOME_PLAN)
    assert config_of(HOME_MODULE, HOME, ACME_HOME, attribute="homeMail.home.confinedServices") == [
        "postfix",
        "dovecot",
        "kresd@1",
        "acme-order-renew-mail.example.org",
    ]


def test_home_wireguard_interface_is_born_outside_and_moved_into_the_namespace() -> None:
    interface = config_of(HOME_MODULE, HOME, attribute="networking.wireguard.interfaces.wg0")
    plan = eval_json(f"{WORLD_HOME_PLAN}.wireguard")
    assert interface["interfaceNamespace"] == "wg"
    assert interface["socketNamespace"] is None
    for key in ("ips", "listenPort", "mtu", "privateKeyFile", "allowedIPsAsRoutes", "table"):
        assert interface[key] == plan[key], key
    (peer,) = interface["peers"]
    for key, value in plan["peers"][0].items():
        assert peer[key] == value, key
    assert peer["allowedIPs"] == ["0.0.0.0/0", "::/0"]
    # The plan's preSetup (a leftover interface of this name in the host's namespace), as a shell
    # line naming sh by its store path.
    ((program, *arguments),) = [shlex.split(line) for line in interface["preSetup"].splitlines()]
    assert program.endswith("/bin/sh") and arguments == plan["preSetup"][0][1:]


def test_home_units_are_the_plans_units() -> None:
    """Every unit fragment of the home plan is in systemd.services, commands rendered."""
    services = config_of(HOME_MODULE, HOME, ACME_HOME, attribute="systemd.services")
    unit_names = eval_json(f"builtins.attrNames {WORLD_HOME_PLAN}.units")
    assert set(unit_names) == {
        *("netns@", "netns@wg", "wireguard-wg0", "postfix", "dovecot", "kresd@1"),
        "acme-order-renew-mail.example.org",
    }
    for name in unit_names:
        assert_unit_contains(services[name], rendered(f"{WORLD_HOME_PLAN}.units.{nix_string(name)}"))
    assert services["netns@wg"]["overrideStrategy"] == "asDropin"
    assert services["netns@wg"]["wantedBy"] == ["multi-user.target"]


def test_confined_services_run_in_the_namespace() -> None:
    services = config_of(HOME_MODULE, HOME, attribute="systemd.services")
    for name in ("postfix", "dovecot", "kresd@1"):
        unit = services[name]
        assert unit["serviceConfig"]["NetworkNamespacePath"] == "/run/netns/wg"
        assert unit["serviceConfig"]["BindReadOnlyPaths"] == ["/etc/netns/wg/resolv.conf:/etc/resolv.conf"]
        assert unit["serviceConfig"]["InaccessiblePaths"] == ["-/run/nscd"]
        assert unit["bindsTo"] == ["netns@wg.service"]
        assert unit["after"] == ["netns@wg.service", "wireguard-wg0.service"]
        # Starting the namespace unit starts them again (BindsTo= only carries stop and restart).
        assert "netns@wg.service" in unit["wantedBy"]
    # 26.05 renamed dovecot2.service and asserts that nothing configures the old name.
    assert "dovecot2" not in services
    assert services["wireguard-wg0"]["bindsTo"] == ["netns@wg.service"]
    assert "netns@wg.service" in services["wireguard-wg0"]["wantedBy"]


def test_every_kresd_instance_is_confined_as_a_drop_in_and_started_with_the_namespace() -> None:
    two = "{ services.kresd.instances = 2; }"
    confined = config_of(HOME_MODULE, HOME, two, attribute="homeMail.home.confinedServices")
    assert [s for s in confined if s.startswith("kresd")] == ["kresd@1", "kresd@2"]
    services = config_of(HOME_MODULE, HOME, two, attribute="systemd.services")
    for instance in ("kresd@1", "kresd@2"):
        # A unit file of its own would replace the kresd@.service of the knot-resolver package.
        assert services[instance]["overrideStrategy"] == "asDropin"
        assert services[instance]["wantedBy"] == ["netns@wg.service"]


def test_namespace_unit_commands_create_the_namespace_and_apply_its_settings() -> None:
    services = config_of(HOME_MODULE, HOME, attribute="systemd.services")
    template = services["netns@"]["serviceConfig"]
    assert template["ExecStartPre"] == [f'-{PROGRAMS["ip"]} "netns" "delete" "%i"']
    assert template["ExecStart"] == [f'{PROGRAMS["ip"]} "netns" "add" "%i"']
    assert template["ExecStop"] == [f'{PROGRAMS["ip"]} "netns" "delete" "%i"']
    instance = services["netns@wg"]["serviceConfig"]["ExecStartPost"]
    assert any(
        PROGRAMS["sysctl"] in command and "net.ipv4.conf.all.forwarding=0" in command for command in instance
    )
    assert any(f'{PROGRAMS["nft"]} "-f" "/etc/netns/wg.nft"' in command for command in instance)


def test_namespace_files_are_the_plans() -> None:
    etc = config_of(HOME_MODULE, HOME, attribute="environment.etc")
    plan_files = eval_json(f"{WORLD_HOME_PLAN}.namespace.etc")
    for path, text in plan_files.items():
        assert etc[path]["text"] == text, path
    assert etc["netns/wg/resolv.conf"]["text"] == "nameserver 127.0.0.1\n"
    assert "table inet home_mail_netns" in etc["netns/wg.nft"]["text"]


def test_knot_resolver_in_the_namespace_leaves_the_host_its_own_resolver() -> None:
    assert config_of(HOME_MODULE, HOME, attribute="networking.resolvconf.useLocalResolver") is False
    explicit = "{ networking.resolvconf.useLocalResolver = true; }"
    assert config_of(HOME_MODULE, HOME, explicit, attribute="networking.resolvconf.useLocalResolver") is True
    # Without the home module, the stand-in of nixpkgs' kresd module turns it on (the override
    # above is what changes it).
    kresd_only = "{ services.kresd.enable = true; }"
    assert config_of(kresd_only, attribute="networking.resolvconf.useLocalResolver") is True


def test_rspamd_reaches_redis_over_a_unix_socket() -> None:
    redis = config_of(HOME_MODULE, HOME, attribute="services.redis.servers.rspamd")
    assert redis["enable"] is True
    assert redis["port"] == 0
    locals_text = config_of(HOME_MODULE, HOME, attribute='services.rspamd.locals."redis.conf".text')
    assert locals_text == f'servers = "{redis["unixSocket"]}";\n'
    rspamd = config_of(HOME_MODULE, HOME, attribute="systemd.services.rspamd.serviceConfig")
    assert rspamd["SupplementaryGroups"] == [redis["group"]]


def test_a_mail_servers_own_redis_settings_win() -> None:
    own = '{ services.rspamd.locals."redis.conf".text = "servers = \\"/run/own.sock\\";"; }'
    text = config_of(HOME_MODULE, HOME, own, attribute='services.rspamd.locals."redis.conf".text')
    assert text == 'servers = "/run/own.sock";'
    # Even a mail server module's mkDefault wins: no port clash, no concatenated redis.conf.
    defaults = """{ lib, ... }: {
      services.redis.servers.rspamd.port = lib.mkDefault 6380;
      services.rspamd.locals."redis.conf".text = lib.mkDefault "servers = \\"127.0.0.1:6380\\";";
    }"""
    assert config_of(HOME_MODULE, HOME, defaults, attribute="services.redis.servers.rspamd.port") == 6380
    text = config_of(HOME_MODULE, HOME, defaults, attribute='services.rspamd.locals."redis.conf".text')
    assert text == 'servers = "127.0.0.1:6380";'


def test_without_knot_resolver_nothing_resolves_on_the_namespace_loopback() -> None:
    no_kresd = "{ services.kresd.enable = lib.mkForce false; }"
    module = f"{{ lib, ... }}: {no_kresd}"
    services = config_of(HOME_MODULE, HOME, module, attribute="homeMail.home.confinedServices")
    assert not [service for service in services if service.startswith("kresd@")]
    warnings = config_of(HOME_MODULE, HOME, module, attribute="warnings")
    assert any(warning.startswith("homeMail.home.nameservers: 127.0.0.1") for warning in warnings), warnings


def test_the_networkd_wireguard_backend_is_forced_off() -> None:
    networkd = "{ networking.useNetworkd = true; }"
    assert config_of(HOME_MODULE, HOME, networkd, attribute="networking.wireguard.useNetworkd") is False


def test_acme_orders_run_in_the_namespace_and_answer_on_port_80() -> None:
    assert failing_messages(HOME_MODULE, HOME, ACME_HOME) == []
    services = config_of(HOME_MODULE, HOME, ACME_HOME, attribute="systemd.services")
    order = services["acme-order-renew-mail.example.org"]
    assert order["serviceConfig"]["NetworkNamespacePath"] == "/run/netns/wg"
    assert order["bindsTo"] == ["netns@wg.service"]
    certificate = config_of(HOME_MODULE, HOME, ACME_HOME, attribute='security.acme.certs."mail.example.org"')
    assert certificate["listenHTTP"] == ":80"
    assert certificate["webroot"] is None
    ruleset = config_of(HOME_MODULE, HOME, ACME_HOME, attribute='environment.etc."netns/wg.nft".text')
    assert "tcp dport { 25, 80, 465, 993 } accept" in ruleset


def test_acme_port_80_is_opened_even_when_not_listed() -> None:
    only_mail = "{ lib, ... }: { homeMail.home.openPorts.tcp = lib.mkForce [ 25 ]; }"
    ruleset = config_of(
        HOME_MODULE, HOME, ACME_HOME, only_mail, attribute='environment.etc."netns/wg.nft".text'
    )
    assert "tcp dport { 25, 80 } accept" in ruleset
    without_acme = config_of(HOME_MODULE, HOME, only_mail, attribute='environment.etc."netns/wg.nft".text')
    assert "tcp dport { 25 } accept" in without_acme


def test_a_webroot_in_the_acme_defaults_does_not_add_a_second_challenge() -> None:
    """Certificates inherit security.acme.defaults (nixpkgs), so a user's default webroot would
    reach the confined order beside its listenHTTP; nixpkgs then asserts exactly one of them."""
    webroot = '{ security.acme.defaults.webroot = "/var/lib/acme/acme-challenge"; }'
    assert failing_messages(HOME_MODULE, HOME, ACME_HOME, webroot) == []
    certificate = config_of(
        HOME_MODULE, HOME, ACME_HOME, webroot, attribute='security.acme.certs."mail.example.org"'
    )
    assert (certificate["webroot"], certificate["listenHTTP"]) == (None, ":80")


def test_a_users_acme_listen_address_wins() -> None:
    own = '{ security.acme.certs."mail.example.org".listenHTTP = "[::]:80"; }'
    certificate = config_of(
        HOME_MODULE, HOME, ACME_HOME, own, attribute='security.acme.certs."mail.example.org"'
    )
    assert certificate["listenHTTP"] == "[::]:80"


def duplicate_filter_file() -> Any:
    """The store path of the plan's duplicate filter (a store path names its content's hash)."""
    return eval_json(
        f'builtins.toFile "drop-duplicates.sieve" {WORLD_HOME_PLAN}.delivery.duplicateFilter.script'
    )


def test_dovecot_24_drops_retried_copies_with_the_plans_sieve_script() -> None:
    """nixos-26.05's default Dovecot: a named `sieve_script` in settings, no 2.3-era options."""
    assert 'require "duplicate";' in eval_json(f"{WORLD_HOME_PLAN}.delivery.duplicateFilter.script")
    settings = config_of(HOME_MODULE, HOME, attribute="services.dovecot2.settings")
    assert settings["sieve_script home_mail_drop_duplicates"] == {
        "_section": {"type": "sieve_script", "name": "home_mail_drop_duplicates"},
        "type": "before",
        "path": duplicate_filter_file(),
    }
    assert settings["protocol lmtp"] == {
        "_section": {"type": "protocol", "name": "lmtp"},
        "mail_plugins": {"_section": {"type": "mail_plugins", "name": None}, "sieve": True},
        # The quota check at RCPT creates a new mailbox's home before the filter writes its marks there.
        "lmtp_rcpt_check_quota": True,
    }
    # The stand-in of nixpkgs' dovecot module asserts these are unset on 2.4.
    assert config_of(HOME_MODULE, HOME, attribute="services.dovecot2.sieve.scripts") == {}
    assert config_of(HOME_MODULE, HOME, attribute="services.dovecot2.mailPlugins.perProtocol") == {}
    assert config_of(HOME_MODULE, HOME, attribute="warnings") == []
    packages = config_of(HOME_MODULE, HOME, attribute="environment.systemPackages")
    # The pigeonhole package of the dovecot in use (the stand-in's passthru), as a store path.
    # (systemPackages is a set in effect: its order follows the module imports.)
    assert sorted(packages) == [
        "/nix/store/00000000000000000000000000000000-dovecot-pigeonhole-for-2.4.2",
        DOCTOR_PACKAGE,
    ]
    main_cf = config_of(HOME_MODULE, HOME, attribute="services.postfix.settings.main")
    assert main_cf == eval_json(f"{WORLD_HOME_PLAN}.delivery.postfixMain")
    assert main_cf == {"lmtp_destination_concurrency_limit": 1}
    own = "{ services.postfix.settings.main.lmtp_destination_concurrency_limit = 4; }"
    main_cf = config_of(HOME_MODULE, HOME, own, attribute="services.postfix.settings.main")
    assert main_cf == {"lmtp_destination_concurrency_limit": 4}


def test_dovecot_23_drops_retried_copies_with_the_plans_sieve_script() -> None:
    scripts = config_of(HOME_MODULE, HOME, DOVECOT_23, attribute="services.dovecot2.sieve.scripts")
    assert scripts == {"before": duplicate_filter_file()}
    assert config_of(HOME_MODULE, HOME, DOVECOT_23, attribute="warnings") == []
    plugins = config_of(HOME_MODULE, HOME, DOVECOT_23, attribute="services.dovecot2.mailPlugins.perProtocol")
    assert plugins["lmtp"]["enable"] == ["sieve"]
    settings = config_of(HOME_MODULE, HOME, DOVECOT_23, attribute="services.dovecot2.settings")
    assert "sieve_script home_mail_drop_duplicates" not in settings
    # nixpkgs renders 2.3's dovecot.conf from settings too; the plugin comes through mailPlugins.
    assert settings["protocol lmtp"] == {
        "_section": {"type": "protocol", "name": "lmtp"},
        "lmtp_rcpt_check_quota": True,
    }
    assert config_of(HOME_MODULE, HOME, DOVECOT_23, attribute="services.dovecot2.package.version") == "2.3.21"
    assert failing_messages(HOME_MODULE, HOME, DOVECOT_23) == []


def test_a_plain_dovecot_23_without_mail_uid_still_evaluates_and_is_told_why_no_filter() -> None:
    """nixpkgs' sieve.scripts needs settings.mail_uid/mail_gid (its assertion reads them), so the
    filter is left out of a 2.3 configuration that stores mail as the system users."""
    unowned = """{ lib, ... }: {
      services.dovecot2.settings = lib.mkForce { };
    }"""
    assert (
        config_of(HOME_MODULE, HOME, DOVECOT_23, unowned, attribute="services.dovecot2.sieve.scripts") == {}
    )
    assert failing_messages(HOME_MODULE, HOME, DOVECOT_23, unowned) == []
    (warning,) = config_of(HOME_MODULE, HOME, DOVECOT_23, unowned, attribute="warnings")
    assert warning.startswith("homeMail.home.dropDuplicateDeliveries: with Dovecot 2.3")
    assert "services.dovecot2.settings.mail_uid and mail_gid" in warning
    # The stand-in of nixpkgs' assertion stops the evaluation if the script were added anyway.
    forced = '{ services.dovecot2.sieve.scripts.before = "/etc/dovecot/own.sieve"; }'
    error = eval_error(
        f"map (a: a.message) (builtins.filter (a: !a.assertion) "
        f"({EVALUATE} [ ({HOME_MODULE}) ({HOME}) ({DOVECOT_23}) ({unowned}) ({forced}) ]).config.assertions)"
    )
    assert "attribute 'mail_uid' missing" in error


@pytest.mark.parametrize("dovecot", ["2.4", "2.3"])
def test_duplicate_filter_is_left_out_when_turned_off_or_mailserver_loads_sieve(dovecot: str) -> None:
    version = "{ }" if dovecot == "2.4" else DOVECOT_23
    off = "{ homeMail.home.dropDuplicateDeliveries = false; }"
    for attribute in ("sieve.scripts", "mailPlugins.perProtocol"):
        assert config_of(HOME_MODULE, HOME, version, off, attribute=f"services.dovecot2.{attribute}") == {}
    settings = config_of(HOME_MODULE, HOME, version, off, attribute="services.dovecot2.settings")
    assert not set(OWN_DOVECOT_SETTINGS) & set(settings)
    assert config_of(HOME_MODULE, HOME, version, off, attribute="services.postfix.settings.main") == {}
    assert config_of(HOME_MODULE, HOME, version, off, attribute="environment.systemPackages") == [
        DOCTOR_PACKAGE
    ]
    # simple-nixos-mailserver loads the sieve plugin for LMTP itself; the script is still added.
    mailserver = "{ imports = [ ./tests/nix/stubs/mailserver.nix ]; mailserver.enable = true; }"

    def with_mailserver(attribute: str) -> Any:
        return config_of(HOME_MODULE, HOME, version, mailserver, attribute=f"services.dovecot2.{attribute}")

    assert with_mailserver("mailPlugins.perProtocol") == {}
    if dovecot == "2.4":
        settings = with_mailserver("settings")
        assert set(OWN_DOVECOT_SETTINGS) & set(settings) == set(OWN_DOVECOT_SETTINGS)
        assert "mail_plugins" not in settings["protocol lmtp"]
    else:
        assert set(with_mailserver("sieve.scripts")) == {"before"}
    assert config_of(HOME_MODULE, HOME, version, mailserver, attribute="environment.systemPackages") == [
        DOCTOR_PACKAGE
    ]
    assert failing_messages(HOME_MODULE, HOME, version, mailserver) == []


def test_knot_resolver_6_is_confined_like_kresd() -> None:
    """knot-resolver 6 (services.knot-resolver, knot-resolver.service) instead of kresd@."""
    resolver6 = (
        "{ lib, ... }: { services.kresd.enable = lib.mkForce false; services.knot-resolver.enable = true; }"
    )
    confined = config_of(HOME_MODULE, HOME, resolver6, attribute="homeMail.home.confinedServices")
    assert "knot-resolver" in confined and "kresd@1" not in confined
    unit = config_of(HOME_MODULE, HOME, resolver6, attribute='systemd.services."knot-resolver"')
    assert unit["serviceConfig"]["NetworkNamespacePath"] == "/run/netns/wg"
    # Its mkDefault true would leave the host asking a resolver that now listens in `wg`.
    assert (
        config_of(HOME_MODULE, HOME, resolver6, attribute="networking.resolvconf.useLocalResolver") is False
    )
    assert config_of(HOME_MODULE, HOME, resolver6, attribute="warnings") == []


def test_simple_nixos_mailservers_acme_certificate_is_confined_by_default() -> None:
    mailserver = """{
      imports = [ ./tests/nix/stubs/mailserver.nix ];
      mailserver = { enable = true; x509.useACMEHost = "mail.example.org"; };
      security.acme.certs."mail.example.org".email = "postmaster@example.org";
    }"""
    acme = config_of(HOME_MODULE, HOME, mailserver, attribute="homeMail.home.acmeCertificates")
    assert acme == ["mail.example.org"]
    services = config_of(HOME_MODULE, HOME, mailserver, attribute="homeMail.home.confinedServices")
    assert "acme-order-renew-mail.example.org" in services


def test_a_disabled_home_sets_nothing() -> None:
    disabled = '{ homeMail.home.namespace = "wg"; services.postfix.enable = true; }'
    services = config_of(HOME_MODULE, disabled, attribute="systemd.services")
    assert services == {}
    assert config_of(HOME_MODULE, disabled, attribute="networking.wireguard.interfaces") == {}


# --- the plain path: hosts/home-plain (no simple-nixos-mailserver) ---------------------------------

PLAIN_HOME = ("./tests/nix/stubs/host.nix", HOME_MODULE, "./hosts/home-plain")
# The same host on Dovecot 2.3 (system.stateVersion before 26.05), without the 2.4-only versions:
# what the module adds on that generation (the host's own dovecot settings are written for 2.4;
# a 2.3 host would write its own).
PLAIN_DOVECOT_23 = """{ lib, ... }: {
  system.stateVersion = lib.mkForce "25.11";
  services.dovecot2.settings = {
    dovecot_config_version = lib.mkForce null;
    dovecot_storage_version = lib.mkForce null;
  };
}"""


def test_the_plain_home_on_dovecot_24_filters_duplicates_through_settings() -> None:
    assert failing_messages(*PLAIN_HOME) == []
    assert config_of(*PLAIN_HOME, attribute="warnings") == []
    dovecot = config_of(*PLAIN_HOME, attribute="services.dovecot2")
    assert config_of(*PLAIN_HOME, attribute="services.dovecot2.package.version") == "2.4.2"
    settings = dovecot["settings"]
    assert (settings["dovecot_config_version"], settings["dovecot_storage_version"]) == ("2.4.0", "2.4.0")
    assert settings["sieve_script home_mail_drop_duplicates"]["path"] == duplicate_filter_file()
    assert settings["protocol lmtp"]["mail_plugins"]["sieve"] is True
    assert dovecot["sieve"]["scripts"] == {}
    assert sorted(config_of(*PLAIN_HOME, attribute="environment.systemPackages")) == [
        "/nix/store/00000000000000000000000000000000-dovecot-pigeonhole-for-2.4.2",
        DOCTOR_PACKAGE,
    ]
    main_cf = config_of(*PLAIN_HOME, attribute="services.postfix.settings.main")
    assert main_cf["lmtp_destination_concurrency_limit"] == 1
    assert main_cf["virtual_transport"] == "lmtp:unix:private/dovecot-lmtp"
    assert config_of(*PLAIN_HOME, attribute="homeMail.home.confinedServices") == [
        "postfix",
        "dovecot",
        "kresd@1",
        "acme-order-renew-mail.example.org",
    ]


def test_the_plain_home_needs_the_dovecot_24_versions_it_sets() -> None:
    """What the README tells a plain-path user to set: without them nixpkgs' dovecot module stops
    the evaluation (it reads the settings it requires)."""
    without = """{ lib, ... }: { services.dovecot2.settings = {
      dovecot_config_version = lib.mkForce null; dovecot_storage_version = lib.mkForce null; }; }"""
    messages = failing_messages(*PLAIN_HOME, without)
    assert any(
        message.startswith("services.dovecot2.settings.dovecot_config_version:") for message in messages
    )
    assert any(
        message.startswith("services.dovecot2.settings.dovecot_storage_version:") for message in messages
    )


def test_the_plain_home_on_dovecot_23_filters_duplicates_through_sieve_scripts() -> None:
    assert failing_messages(*PLAIN_HOME, PLAIN_DOVECOT_23) == []
    assert config_of(*PLAIN_HOME, PLAIN_DOVECOT_23, attribute="warnings") == []
    dovecot = config_of(*PLAIN_HOME, PLAIN_DOVECOT_23, attribute="services.dovecot2")
    version = config_of(*PLAIN_HOME, PLAIN_DOVECOT_23, attribute="services.dovecot2.package.version")
    assert version == "2.3.21"
    # nixpkgs' sieve.scripts needs the owner of the compiled scripts: the host's vmail.
    assert (dovecot["settings"]["mail_uid"], dovecot["settings"]["mail_gid"]) == ("vmail", "vmail")
    assert dovecot["sieve"]["scripts"] == {"before": duplicate_filter_file()}
    assert dovecot["mailPlugins"]["perProtocol"]["lmtp"]["enable"] == ["sieve"]
    assert "sieve_script home_mail_drop_duplicates" not in dovecot["settings"]
    assert dovecot["settings"]["protocol lmtp"]["lmtp_rcpt_check_quota"] is True
    # Without an owner the filter is left out, with the warning, and the host still evaluates.
    unowned = """{ lib, ... }: { services.dovecot2.settings = {
      mail_uid = lib.mkForce null; mail_gid = lib.mkForce null; }; }"""
    assert failing_messages(*PLAIN_HOME, PLAIN_DOVECOT_23, unowned) == []
    scripts = config_of(*PLAIN_HOME, PLAIN_DOVECOT_23, unowned, attribute="services.dovecot2.sieve.scripts")
    assert scripts == {}
    (warning,) = config_of(*PLAIN_HOME, PLAIN_DOVECOT_23, unowned, attribute="warnings")
    assert warning.startswith("homeMail.home.dropDuplicateDeliveries: with Dovecot 2.3")


# --- netns ----------------------------------------------------------------------------------------

NETNS = """{
  homeMail.netns.vpn = {
    resolvConf = "nameserver 192.0.2.53\\n";
    services = [ "transmission" ];
    dependencies = [ "openvpn-vpn.service" ];
  };
}"""


def test_a_namespace_of_its_own_confines_its_services() -> None:
    assert failing_messages(NETNS_MODULE, NETNS) == []
    services = config_of(NETNS_MODULE, NETNS, attribute="systemd.services")
    expected = eval_json(
        '(import ./lib).moveNs { namespace = "vpn"; after = [ "openvpn-vpn.service" ]; '
        'wants = [ "openvpn-vpn.service" ]; }'
    )
    assert_unit_contains(services["transmission"], expected)
    assert services["netns@vpn"]["overrideStrategy"] == "asDropin"
    assert "netns@" in services
    etc = config_of(NETNS_MODULE, NETNS, attribute="environment.etc")
    assert etc["netns/vpn/resolv.conf"]["text"] == "nameserver 192.0.2.53\n"


# --- gateway --------------------------------------------------------------------------------------


def test_the_test_world_gateway_passes_every_assertion() -> None:
    assert failing_messages(GATEWAY_MODULE, GATEWAY) == []
    assert config_of(GATEWAY_MODULE, GATEWAY, attribute="homeMail.gateway.plan") == eval_json(
        WORLD_GATEWAY_PLAN
    )


def test_gateway_wireguard_interface_is_the_plans() -> None:
    interface = config_of(GATEWAY_MODULE, GATEWAY, attribute="networking.wireguard.interfaces.wg0")
    plan = eval_json(f"{WORLD_GATEWAY_PLAN}.wireguard")
    for key in ("ips", "listenPort", "mtu", "privateKeyFile", "interfaceNamespace", "allowedIPsAsRoutes"):
        assert interface[key] == plan[key], key
    (peer,) = interface["peers"]
    assert peer["name"] == "home"
    assert peer["allowedIPs"] == ["198.51.100.11/32", "2001:db8:1::11/128"]
    assert config_of(GATEWAY_MODULE, GATEWAY, attribute="networking.wireguard.useNetworkd") is False
    # The endpoint memory (lib/gateway.nix): the plan's hooks as shell lines of the native options.
    # Hooks and the peer unit's preStop are shell lines naming sh by its store path.
    ((restore_program, *restore),) = [shlex.split(line) for line in interface["postSetup"].splitlines()]
    assert restore_program.endswith("/bin/sh") and restore == plan["postSetup"][0][1:]
    peer_unit = config_of(GATEWAY_MODULE, GATEWAY, attribute='systemd.services."wireguard-wg0-peer-home"')
    gateway_units = eval_json(f"{WORLD_GATEWAY_PLAN}.units")
    ((save_program, *save),) = [shlex.split(line) for line in peer_unit["preStop"].splitlines()]
    assert save_program.endswith("/bin/sh")
    assert save == gateway_units["wireguard-wg0-peer-home"]["serviceConfig"]["ExecStop"][0][1:]
    # The saving loop: its ExecStart as a script (no systemd `$` expansion), wg on its PATH.
    saver_name = eval_json(f"{WORLD_GATEWAY_PLAN}.endpointMemory.unit")
    saver = config_of(GATEWAY_MODULE, GATEWAY, attribute=f'systemd.services."{saver_name}"')
    ((loop_program, *loop),) = [shlex.split(line) for line in saver["script"].splitlines()]
    assert loop_program.endswith("/bin/sh")
    assert loop == gateway_units[saver_name]["serviceConfig"]["ExecStart"][0][1:]
    assert "ExecStart" not in saver["serviceConfig"] and saver["serviceConfig"]["Type"] == "simple"
    for key in ("wantedBy", "bindsTo", "after"):
        assert saver[key] == ["wireguard-wg0.service"], key
    assert any("wireguard-tools" in str(package) for package in saver["path"])


def test_gateway_sysctls_firewall_and_nftables_are_the_plans() -> None:
    plan = eval_json(WORLD_GATEWAY_PLAN)
    assert config_of(GATEWAY_MODULE, GATEWAY, attribute="boot.kernel.sysctl") == plan["sysctl"]
    assert config_of(GATEWAY_MODULE, GATEWAY, attribute="networking.nftables.enable") is True
    table = config_of(GATEWAY_MODULE, GATEWAY, attribute="networking.nftables.tables.home_mail_gateway")
    assert table["family"] == "inet"
    assert table["content"] == plan["nftables"]["content"]
    assert config_of(GATEWAY_MODULE, GATEWAY, attribute="networking.firewall.allowedUDPPorts") == [51820]
    closed = "{ homeMail.gateway.openFirewall = false; }"
    assert config_of(GATEWAY_MODULE, GATEWAY, closed, attribute="networking.firewall.allowedUDPPorts") == []


def test_gateway_proxy_ndp_entries_follow_the_uplink_device() -> None:
    unit = config_of(GATEWAY_MODULE, GATEWAY, attribute='systemd.services."home-mail-proxy-ndp"')
    device = "sys-subsystem-net-devices-eth0.device"
    assert unit["bindsTo"] == [device]
    assert device in unit["wantedBy"]
    assert unit["serviceConfig"]["Type"] == "oneshot"
    assert unit["serviceConfig"]["ExecStart"] == [
        f'{PROGRAMS["ip"]} "-6" "neigh" "replace" "proxy" "2001:db8:1::11" "dev" "eth0"'
    ]
    assert unit["serviceConfig"]["ExecStop"] == [
        f'-{PROGRAMS["ip"]} "-6" "neigh" "del" "proxy" "2001:db8:1::11" "dev" "eth0"'
    ]


def test_an_uplink_with_a_dash_is_escaped_in_the_device_unit() -> None:
    uplink = '{ lib, ... }: { homeMail.gateway.uplink.interface = lib.mkForce "en-p1"; }'
    unit = config_of(GATEWAY_MODULE, GATEWAY, uplink, attribute='systemd.services."home-mail-proxy-ndp"')
    assert unit["bindsTo"] == ["sys-subsystem-net-devices-en\\x2dp1.device"]


def test_uplink_addresses_default_to_the_interfaces_static_addresses() -> None:
    interface = {
        "ipv4": {"addresses": [{"address": "198.51.100.10", "prefixLength": 24}]},
        "ipv6": {"addresses": [{"address": "2001:db8:1::10", "prefixLength": 64}]},
    }
    module = f"""{{
      homeMail.gateway = builtins.removeAttrs {TOPOLOGY}.gatewayIntent [ "uplink" ] // {{
        enable = true;
        uplink.interface = "eth0";
      }};
      networking.interfaces.eth0 = {nix_value(interface)};
    }}"""
    addresses = config_of(GATEWAY_MODULE, module, attribute="homeMail.gateway.uplink.addresses")
    assert addresses == ["198.51.100.10/24", "2001:db8:1::10/64"]
    # ... and they are what the check of the forwarded addresses compares with.
    clash = '{ lib, ... }: { homeMail.gateway.homes.home.addresses = lib.mkForce [ "198.51.100.10/32" ]; }'
    messages = failing_messages(GATEWAY_MODULE, module, clash)
    with_message(messages, "homeMail.gateway.homes.home.addresses:", "198.51.100.10", "uplink")


# --- bad input ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModuleCase:
    """Modules (Nix expressions) whose `kind` (assertions or warnings) must hold a failing message
    that starts with `prefix` and contains every keyword. tests/nix/test_check_coverage.py proves
    that every assertion and warning of modules/ has a case here."""

    id: str
    modules: tuple[str, ...]
    prefix: str
    keywords: tuple[str, ...]
    kind: Literal["assertions", "warnings"] = "assertions"


BAD_HOME = """{ lib, ... }: {
  homeMail.home.addresses = lib.mkForce [ "198.51.100.11/32" "2001:db8:1::11/64" ];
  homeMail.home.gateway.endpoint = lib.mkForce "gateway.example.net:51820";
  homeMail.home.wireguard.privateKeyFile = lib.mkForce null;
}"""
BAD_GATEWAY = """{ lib, ... }: {
  homeMail.gateway.homes.home.publicKey = lib.mkForce "not-a-key";
  homeMail.gateway.wireguard.privateKeyFile = lib.mkForce "wg0.key";
}"""
GATEWAY_WITHOUT_UPLINK_ADDRESSES = f"""{{
  homeMail.gateway = builtins.removeAttrs {TOPOLOGY}.gatewayIntent [ "uplink" ] // {{
    enable = true;
    uplink.interface = "eth0";
  }};
}}"""


def home_case(case_id: str, module: str, prefix: str, *keywords: str) -> ModuleCase:
    return ModuleCase(case_id, (HOME_MODULE, HOME, module), prefix, keywords)


def netns_case(case_id: str, modules: tuple[str, ...], prefix: str, *keywords: str) -> ModuleCase:
    return ModuleCase(case_id, (NETNS_MODULE, *modules), prefix, keywords)


def gateway_case(case_id: str, module: str, prefix: str, *keywords: str) -> ModuleCase:
    return ModuleCase(case_id, (GATEWAY_MODULE, GATEWAY, module), prefix, keywords)


MODULE_CASES = [
    # The plan's checks, through the module.
    home_case("home-address-prefix", BAD_HOME, "homeMail.home.addresses:", "2001:db8:1::11/128"),
    home_case("home-endpoint-host-name", BAD_HOME, "homeMail.home.gateway.endpoint:", "host name"),
    home_case("home-private-key-unset", BAD_HOME, "homeMail.home.wireguard.privateKeyFile:", "is not set"),
    gateway_case(
        "gateway-public-key",
        BAD_GATEWAY,
        "homeMail.gateway.homes.home.publicKey:",
        "not a WireGuard public key",
    ),
    gateway_case(
        "gateway-private-key-relative",
        BAD_GATEWAY,
        "homeMail.gateway.wireguard.privateKeyFile:",
        "not an absolute path",
    ),
    # The modules' own assertions.
    home_case(
        "home-interface-defined-twice",
        '{ networking.wireguard.interfaces.wg0.ips = [ "10.0.0.1/24" ]; }',
        "homeMail.home.wireguard.interface:",
        "networking.wireguard.interfaces.wg0",
        "also defined",
    ),
    home_case(
        "home-namespace-defined-twice",
        '{ homeMail.netns.wg.services = [ "nginx" ]; }',
        "homeMail.home.namespace:",
        "homeMail.netns.wg",
        "extraConfinedServices",
    ),
    home_case(
        "home-unknown-acme-certificate",
        '{ homeMail.home.acmeCertificates = [ "mail.example.org" ]; '
        'security.acme = { acceptTerms = true; defaults.email = "postmaster@example.org"; }; }',
        "homeMail.home.acmeCertificates:",
        '"mail.example.org"',
        "security.acme.certs",
    ),
    home_case(
        "home-old-dovecot-unit-name",
        '{ homeMail.home.extraConfinedServices = [ "dovecot2" ]; }',
        "homeMail.home.extraConfinedServices:",
        "dovecot.service",
    ),
    netns_case(
        "netns-service-in-two-namespaces",
        (NETNS, '{ homeMail.netns.other.services = [ "transmission" ]; }'),
        "homeMail.netns.",
        '"transmission"',
        "one namespace only",
    ),
    *(
        netns_case(
            f"netns-name-{name}",
            (f"{{ homeMail.netns.{nix_string(name)}.services = [ ]; }}",),
            f"homeMail.netns.{name}:",
            keyword,
        )
        for name, keyword in [
            ("init", "host's own namespace"),
            ("default", "host's own namespace"),
            ("a-much-too-long-name", "1 to 15"),
            ("mail.box", "1 to 15"),
        ]
    ),
    netns_case(
        "netns-without-sysctls",
        ("{ homeMail.netns.vpn.sysctl = { }; }",),
        "homeMail.netns.vpn.sysctl:",
        "is empty",
    ),
    gateway_case(
        "gateway-interface-defined-twice",
        "{ networking.wireguard.interfaces.wg0.mtu = 1280; }",
        "homeMail.gateway.wireguard.interface:",
        "also defined",
    ),
    # Warnings.
    ModuleCase(
        "home-loopback-resolver-without-kresd",
        (HOME_MODULE, HOME, "{ lib, ... }: { services.kresd.enable = lib.mkForce false; }"),
        "homeMail.home.nameservers: 127.0.0.1",
        ("neither services.kresd nor services.knot-resolver is enabled",),
        kind="warnings",
    ),
    ModuleCase(
        "home-own-sieve-before-script",
        (
            HOME_MODULE,
            HOME,
            DOVECOT_23,
            '{ services.dovecot2.sieve.scripts.before = "/etc/dovecot/own.sieve"; }',
        ),
        "homeMail.home.dropDuplicateDeliveries:",
        ("is set elsewhere", "dropDuplicateDeliveries = false"),
        kind="warnings",
    ),
    ModuleCase(
        "home-dovecot-23-without-mail-owner",
        (HOME_MODULE, HOME, DOVECOT_23, "{ lib, ... }: { services.dovecot2.settings = lib.mkForce { }; }"),
        "homeMail.home.dropDuplicateDeliveries: with Dovecot 2.3",
        ("services.dovecot2.settings.mail_uid and mail_gid", "dropDuplicateDeliveries = false"),
        kind="warnings",
    ),
    ModuleCase(
        "gateway-uplink-without-addresses",
        (GATEWAY_MODULE, GATEWAY_WITHOUT_UPLINK_ADDRESSES),
        "homeMail.gateway.uplink.addresses:",
        ("is empty", "networking.interfaces.eth0"),
        kind="warnings",
    ),
]


def case_messages_expr(case: ModuleCase) -> str:
    """A Nix expression for the failing messages (assertions) or the warnings of a case."""
    config = f"({EVALUATE} [ {' '.join(f'({module})' for module in case.modules)} ]).config"
    if case.kind == "warnings":
        return f"{config}.warnings"
    return f"map (a: a.message) (builtins.filter (a: !a.assertion) {config}.assertions)"


@pytest.mark.parametrize("case", MODULE_CASES, ids=lambda case: case.id)
def test_bad_module_input_is_reported(case: ModuleCase) -> None:
    messages: list[str] = eval_json(case_messages_expr(case))
    with_message(messages, case.prefix, *case.keywords)
