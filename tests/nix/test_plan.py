"""lib/, the pure Nix core, through the real evaluator: the plans of the test world (expected
values derived from the intents), every check on bad input, address normalization, laziness, the
test world's overrides, and nftables rulesets that nft really loads in a throwaway namespace."""

from __future__ import annotations

import ipaddress
import random
from pathlib import Path
from typing import Any

import pytest
from nixeval import (
    REPO,
    NixEvaluationError,
    eval_error,
    eval_json,
    needs_nix,
    nix_string,
    nix_value,
    thrown_messages,
)
from plan_cases import ALL_CASES, Case
from plan_nft import (
    GATEWAY_VARIANTS,
    HOME_VARIANTS,
    RulesetRejectedError,
    load_ruleset,
    missing_requirement,
    objects_of_kind,
    rules_of_chain,
    throwaway_namespace,
)

pytestmark = needs_nix

LIB = "(import ./lib)"
Json = Any


def topology(overrides: dict[str, Any] | None = None) -> str:
    """A Nix expression of the test world, with `overrides` merged into its intents."""
    if overrides is None:
        return "(import ./tests/topology.nix { })"
    return f"(import ./tests/topology.nix {{ overrides = {nix_value(overrides)}; }})"


def failing_messages(checks_expr: str) -> list[str]:
    messages: list[str] = eval_json(f"map (c: c.message) (builtins.filter (c: !c.assertion) ({checks_expr}))")
    return messages


@pytest.fixture(scope="module")
def intents() -> dict[str, Json]:
    result: dict[str, Json] = eval_json(f"{{ inherit ({topology()}) gatewayIntent homeIntent; }}")
    return result


@pytest.fixture(scope="module")
def gateway_intent(intents: dict[str, Json]) -> Json:
    return intents["gatewayIntent"]


@pytest.fixture(scope="module")
def home_intent(intents: dict[str, Json]) -> Json:
    return intents["homeIntent"]


@pytest.fixture(scope="module")
def gateway_plan() -> Json:
    return eval_json(f"{LIB}.gatewayPlanStrict {topology()}.gatewayIntent")


@pytest.fixture(scope="module")
def home_plan() -> Json:
    return eval_json(f"{LIB}.homePlanStrict {topology()}.homeIntent")


# --- expectations, computed independently with Python's ipaddress ------------------------------


def host_addresses(entries: list[str]) -> dict[str, list[str]]:
    interfaces = [ipaddress.ip_interface(entry) for entry in entries]
    return {
        "ipv4": [str(interface.ip) for interface in interfaces if interface.version == 4],
        "ipv6": [str(interface.ip) for interface in interfaces if interface.version == 6],
    }


def host_cidrs(entries: list[str]) -> list[str]:
    interfaces = [ipaddress.ip_interface(entry) for entry in entries]
    return [f"{interface.ip}/{interface.ip.max_prefixlen}" for interface in interfaces]


# --- the test world's plans ---------------------------------------------------------------------


def test_the_test_world_passes_every_check() -> None:
    assert failing_messages(f"{LIB}.gatewayChecks {topology()}.gatewayIntent") == []
    assert failing_messages(f"{LIB}.homeChecks {topology()}.homeIntent") == []
    world = topology()
    assert (
        failing_messages(
            f"{LIB}.pairChecks {{ gateway = {world}.gatewayIntent; home = {world}.homeIntent; }}"
        )
        == []
    )


def test_the_topology_plans_are_the_strict_plans(gateway_plan: Json, home_plan: Json) -> None:
    assert eval_json(f"{topology()}.plans") == {"gateway": gateway_plan, "home": home_plan}


def test_gateway_plan_forwards_the_homes_addresses(gateway_intent: Json, gateway_plan: Json) -> None:
    homes = gateway_intent["homes"]
    forwarded = [address for name in sorted(homes) for address in homes[name]["addresses"]]
    uplink = gateway_intent["uplink"]["interface"]
    wireguard = gateway_intent["wireguard"]

    assert gateway_plan["role"] == "gateway"
    assert gateway_plan["uplink"] == gateway_intent["uplink"]
    assert gateway_plan["forwardedAddresses"] == host_addresses(forwarded)
    hooks = ("postSetup",)
    assert {k: v for k, v in gateway_plan["wireguard"].items() if k not in hooks} == {
        "interface": wireguard["interface"],
        "unit": f"wireguard-{wireguard['interface']}.service",
        "ips": [],
        "listenPort": wireguard["listenPort"],
        "mtu": wireguard["mtu"],
        "privateKeyFile": wireguard["privateKeyFile"],
        "interfaceNamespace": None,
        "socketNamespace": None,
        "allowedIPsAsRoutes": True,
        "table": "main",
        "peers": [
            {
                "name": name,
                "publicKey": homes[name]["publicKey"],
                "presharedKeyFile": homes[name]["presharedKeyFile"],
                "endpoint": None,
                "allowedIPs": host_cidrs(homes[name]["addresses"]),
                "persistentKeepalive": None,
            }
            for name in sorted(homes)
        ],
    }
    assert gateway_plan["routes"] == [
        {"namespace": None, "destination": cidr, "dev": wireguard["interface"], "table": "main"}
        for cidr in host_cidrs(forwarded)
    ]
    assert gateway_plan["proxyNeighbours"] == [
        {"address": address, "dev": uplink} for address in host_addresses(forwarded)["ipv6"]
    ]
    assert gateway_plan["firewall"] == {"allowedUDPPorts": [wireguard["listenPort"]]}


def test_gateway_saves_home_endpoints_on_shutdown_and_restores_them_on_setup(
    gateway_intent: Json, gateway_plan: Json
) -> None:
    """A restarted gateway must not wait for home's next handshake to reach home again."""
    interface = gateway_intent["wireguard"]["interface"]
    memory = gateway_plan["endpointMemory"]["file"]
    for name in gateway_intent["homes"]:
        # Each peer unit saves before its postStop removes the peer.
        ((save_shell, save_flag, save),) = gateway_plan["units"][f"wireguard-{interface}-peer-{name}"][
            "serviceConfig"
        ]["ExecStop"]
        assert (save_shell, save_flag) == ("sh", "-c")
        assert f"wg show {interface} endpoints" in save and memory in save
        assert save.endswith("|| true"), "a failed save must not fail the stop"
    # A gateway that crashes never stops its peer units: a loop bound to the interface saves too.
    saver = gateway_plan["units"][gateway_plan["endpointMemory"]["unit"]]
    assert saver["bindsTo"] == saver["after"] == saver["wantedBy"] == [f"wireguard-{interface}.service"]
    assert saver["serviceConfig"]["Type"] == "simple"
    ((loop_shell, loop_flag, loop),) = saver["serviceConfig"]["ExecStart"]
    assert (loop_shell, loop_flag) == ("sh", "-c")
    interval = gateway_plan["endpointMemory"]["saveInterval"]
    assert loop == f"while :; do {save}; sleep {interval}; done"
    assert 0 < interval <= 60
    ((restore_shell, restore_flag, restore),) = gateway_plan["wireguard"]["postSetup"]
    assert (restore_shell, restore_flag) == ("sh", "-c")
    assert f"done < {memory}" in restore and f"wg set {interface} peer" in restore
    # Only configured homes get an endpoint back.
    for home in gateway_intent["homes"].values():
        assert home["publicKey"] in restore


def test_gateway_sysctls_enable_forwarding_and_neighbour_proxies(
    gateway_intent: Json, gateway_plan: Json
) -> None:
    uplink = gateway_intent["uplink"]["interface"]
    assert gateway_plan["sysctl"] == {
        "net.ipv4.conf.all.forwarding": 1,
        "net.ipv6.conf.all.forwarding": 1,
        f"net.ipv4.conf.{uplink}.proxy_arp": 1,
        f"net.ipv6.conf.{uplink}.proxy_ndp": 1,
        f"net.ipv4.neigh.{uplink}.proxy_delay": 0,
        f"net.ipv6.neigh.{uplink}.proxy_delay": 0,
        f"net.ipv6.conf.{uplink}.accept_ra": 2,
    }


def test_gateway_ruleset_text(gateway_intent: Json, gateway_plan: Json) -> None:
    table = gateway_plan["nftables"]
    wg = gateway_intent["wireguard"]["interface"]
    mtu = gateway_intent["wireguard"]["mtu"]
    tcp_ports = ", ".join(str(port) for port in sorted(set(gateway_intent["forwardedPorts"]["tcp"])))
    assert (table["family"], table["name"]) == ("inet", "home_mail_gateway")
    assert table["ruleset"] == f"table inet home_mail_gateway {{\n{table['content']}}}\n"
    lines = [line.strip() for line in table["content"].splitlines()]
    for family, mss in (("ipv4", mtu - 40), ("ipv6", mtu - 60)):
        assert (
            f'iifname "{wg}" meta nfproto {family} tcp flags syn tcp option maxseg size > {mss} '
            f"tcp option maxseg size set {mss}"
        ) in lines
    assert f'oifname "{wg}" tcp flags syn tcp option maxseg size set rt mtu' in lines
    assert f'oifname "{wg}" ip daddr @forwarded_ipv4 tcp dport {{ {tcp_ports} }} accept' in lines
    assert f'oifname "{wg}" ip6 daddr @forwarded_ipv6 tcp dport {{ {tcp_ports} }} accept' in lines
    assert f'iifname != "{wg}" oifname != "{wg}" accept' in lines
    assert lines[-2:] == ["counter drop", "}"]


def test_home_plan_namespace(home_intent: Json, home_plan: Json) -> None:
    name = home_intent["namespace"]
    resolv_conf = "".join(f"nameserver {server}\n" for server in home_intent["nameservers"])
    namespace = home_plan["namespace"]
    assert home_plan["role"] == "home"
    assert (namespace["name"], namespace["unit"], namespace["path"]) == (
        name,
        f"netns@{name}.service",
        f"/run/netns/{name}",
    )
    assert namespace["resolvConf"] == resolv_conf
    assert namespace["etc"][f"netns/{name}/resolv.conf"] == resolv_conf
    assert namespace["etc"][f"netns/{name}.nft"] == namespace["nftables"]["ruleset"]
    assert {
        "net.ipv4.conf.all.forwarding": 0,
        "net.ipv6.conf.all.forwarding": 0,
        "net.ipv6.conf.all.accept_ra": 0,
        "net.ipv6.conf.default.accept_ra": 0,
    }.items() <= namespace["sysctl"].items()
    table = namespace["nftables"]
    assert (table["family"], table["name"]) == ("inet", "home_mail_netns")
    assert table["ruleset"] == f"table inet home_mail_netns {{\n{table['content']}}}\n"
    tcp_ports = ", ".join(str(port) for port in sorted(home_intent["openPorts"]["tcp"]))
    assert f"tcp dport {{ {tcp_ports} }} accept" in table["content"]
    assert "udp dport" not in table["content"]  # no UDP port is open in the test world


def test_home_plan_tunnel(home_intent: Json, home_plan: Json) -> None:
    wireguard = home_intent["wireguard"]
    peer = home_intent["gateway"]
    assert home_plan["addresses"] == host_addresses(home_intent["addresses"])
    hooks = ("preSetup",)
    assert {k: v for k, v in home_plan["wireguard"].items() if k not in hooks} == {
        "interface": wireguard["interface"],
        "unit": f"wireguard-{wireguard['interface']}.service",
        "ips": host_cidrs(home_intent["addresses"]),
        "listenPort": wireguard["listenPort"],
        "mtu": wireguard["mtu"],
        "privateKeyFile": wireguard["privateKeyFile"],
        "interfaceNamespace": home_intent["namespace"],
        "socketNamespace": None,
        "allowedIPsAsRoutes": True,
        "table": "main",
        "peers": [
            {
                "name": "gateway",
                "publicKey": peer["publicKey"],
                "presharedKeyFile": peer["presharedKeyFile"],
                "endpoint": peer["endpoint"],
                "allowedIPs": ["0.0.0.0/0", "::/0"],
                "persistentKeepalive": peer["persistentKeepalive"],
            }
        ],
    }
    # Before the interface is created in the host's namespace: a leftover WireGuard interface of
    # its name goes, one of another type stops the start (run for real by tests/lab/test_faults.py).
    ((shell, flag, script, _, interface),) = home_plan["wireguard"]["preSetup"]
    assert (shell, flag, interface) == ("sh", "-c", wireguard["interface"])
    assert 'if wg show "$1" >/dev/null 2>&1; then ip link delete dev "$1"' in script
    assert "choose another homeMail.home.wireguard.interface" in script
    assert home_plan["routes"] == [
        {
            "namespace": home_intent["namespace"],
            "destination": default,
            "dev": wireguard["interface"],
            "table": "main",
        }
        for default in ("0.0.0.0/0", "::/0")
    ]


def test_home_plan_units(home_intent: Json, home_plan: Json) -> None:
    name = home_intent["namespace"]
    namespace_unit = f"netns@{name}.service"
    tunnel_unit = f"wireguard-{home_intent['wireguard']['interface']}"
    units = home_plan["units"]
    assert set(units) == {"netns@", f"netns@{name}", tunnel_unit, *home_intent["services"]}
    assert home_plan["confinedServices"] == home_intent["services"]
    # Stop and restart reach the tunnel and the services through BindsTo=, a start through wantedBy.
    assert units[tunnel_unit] == {
        "bindsTo": [namespace_unit],
        "after": [namespace_unit],
        "wantedBy": [namespace_unit],
    }
    for service in home_intent["services"]:
        instance = {"overrideStrategy": "asDropin"} if "@" in service else {}
        assert units[service] == instance | {
            "wantedBy": [namespace_unit],
            "bindsTo": [namespace_unit],
            "after": [namespace_unit, f"{tunnel_unit}.service"],
            "wants": [f"{tunnel_unit}.service"],
            "serviceConfig": {
                "NetworkNamespacePath": f"/run/netns/{name}",
                "BindReadOnlyPaths": [f"/etc/netns/{name}/resolv.conf:/etc/resolv.conf"],
                "InaccessiblePaths": ["-/run/nscd"],
            },
        }


def test_home_plan_drops_retried_deliveries_unless_told_not_to(home_plan: Json) -> None:
    duplicate_filter = home_plan["delivery"]["duplicateFilter"]
    assert duplicate_filter["stage"] == "before"
    assert duplicate_filter["script"] == (REPO / "lib" / "drop-duplicates.sieve").read_text()
    # One LMTP delivery at a time: dovecot's duplicate database loses marks of parallel ones.
    assert home_plan["delivery"]["postfixMain"] == {"lmtp_destination_concurrency_limit": 1}
    # A new mailbox's home exists (made by the INBOX the quota check opens) before the marks go there.
    assert home_plan["delivery"]["dovecotLmtp"] == {"lmtp_rcpt_check_quota": True}
    keep_all = eval_json(
        f"({LIB}.homePlanStrict ({topology()}.homeIntent // {{ dropDuplicateDeliveries = false; }})).delivery"
    )
    assert keep_all == {"duplicateFilter": None, "postfixMain": {}, "dovecotLmtp": {}}


def test_netns_template_and_drop_in(home_intent: Json, home_plan: Json) -> None:
    name = home_intent["namespace"]
    template = home_plan["units"]["netns@"]
    config = template["serviceConfig"]
    assert (config["Type"], config["RemainAfterExit"]) == ("oneshot", True)
    assert template["before"] == ["network.target"]
    assert config["ExecStartPre"] == [["-ip", "netns", "delete", "%i"]]
    assert config["ExecStart"] == [["ip", "netns", "add", "%i"]]
    assert config["ExecStartPost"] == [["ip", "-n", "%i", "link", "set", "lo", "up"]]
    assert config["ExecStop"] == [["ip", "netns", "delete", "%i"]]

    drop_in = home_plan["units"][f"netns@{name}"]
    assert drop_in["overrideStrategy"] == "asDropin"
    assert drop_in["wantedBy"] == ["multi-user.target"]
    enter = ["nsenter", f"--net=/run/netns/{name}", "--"]
    sysctl_command, nft_command = drop_in["serviceConfig"]["ExecStartPost"]
    assert sysctl_command[: len(enter) + 3] == [*enter, "sysctl", "-q", "-w"]
    settings = dict(setting.split("=") for setting in sysctl_command[len(enter) + 3 :])
    assert settings == {key: str(value) for key, value in home_plan["namespace"]["sysctl"].items()}
    assert nft_command[: len(enter) + 2] == [*enter, "nft", "-f"]
    ruleset_path = nft_command[-1]
    assert (
        home_plan["namespace"]["etc"][ruleset_path.removeprefix("/etc/")]
        == home_plan["namespace"]["nftables"]["ruleset"]
    )


def test_commands_name_bare_programs(home_plan: Json) -> None:
    commands = [
        command
        for unit in home_plan["units"].values()
        for key, unit_commands in unit.get("serviceConfig", {}).items()
        if key.startswith("Exec")
        for command in unit_commands
    ]
    # The program is the first argument, and the one after "--" (what nsenter runs).
    programs = {command[0].removeprefix("-") for command in commands} | {
        command[command.index("--") + 1] for command in commands if "--" in command
    }
    assert programs == {"ip", "nsenter", "sysctl", "nft"}


# --- bad input ----------------------------------------------------------------------------------


def case_checks_expr(case: Case) -> str:
    world = topology(case.overrides)
    if case.role == "pair":
        argument = "{ inherit gateway home; }" if case.nix is None else case.nix
        intents = f"gateway = {world}.gatewayIntent; home = {world}.homeIntent;"
        return f"{LIB}.pairChecks (let {intents} in {argument})"
    intent = f"{world}.{case.role}Intent"
    if case.nix is not None:
        intent = f"(let i = {intent}; in {case.nix})"
    return f"{LIB}.{case.role}Checks {intent}"


def test_there_are_many_distinct_checks() -> None:
    assert len({case.id for case in ALL_CASES}) == len(ALL_CASES)
    assert len({(case.path, case.keywords[0]) for case in ALL_CASES}) >= 25


@pytest.mark.parametrize("case", ALL_CASES, ids=lambda case: f"{case.role}-{case.id}")
def test_bad_input_is_reported(case: Case) -> None:
    messages = failing_messages(case_checks_expr(case))
    matching = [message for message in messages if message.startswith(f"{case.path}: ")]
    assert matching, f"no message for {case.path} among {messages}"
    assert any(all(keyword in message for keyword in case.keywords) for message in matching), (
        f"no message for {case.path} says {case.keywords}: {matching}"
    )
    allowed = (case.path, *case.also)
    unrelated = [
        message for message in messages if not message.startswith(tuple(f"{path}: " for path in allowed))
    ]
    assert unrelated == []


@pytest.mark.parametrize(
    "case", [case for case in ALL_CASES if case.role != "pair"], ids=lambda case: f"{case.role}-{case.id}"
)
def test_strict_plan_throws_the_check_messages(case: Case) -> None:
    checks = case_checks_expr(case)
    strict = checks.replace("Checks", "PlanStrict", 1)
    assert thrown_messages(eval_error(strict)) == failing_messages(checks)


def test_strict_plan_names_every_failure_at_once() -> None:
    broken = (
        f'{topology()}.homeIntent // {{ namespace = "init"; nameservers = [ ]; '
        f'gateway = {topology()}.homeIntent.gateway // {{ endpoint = "gateway.example.org:51820"; }}; }}'
    )
    lines = thrown_messages(eval_error(f"{LIB}.homePlanStrict ({broken})"))
    assert [line.split(":")[0] for line in lines] == [
        "homeMail.home.namespace",
        "homeMail.home.gateway.endpoint",
        "homeMail.home.nameservers",
    ]


# --- laziness -----------------------------------------------------------------------------------

BAD_HOME = f'{topology()}.homeIntent // {{ addresses = [ "2001:db8::1::11/128" 5 ]; }}'


def test_home_plan_is_lazy_about_bad_addresses() -> None:
    assert eval_json(f"({LIB}.homePlan ({BAD_HOME})).wireguard.interface") == "wg0"
    error = eval_error(f"({LIB}.homePlanStrict ({BAD_HOME})).wireguard.interface")
    assert "homeMail.home.addresses" in error


GARBAGE_INTENTS = {
    "empty": "{ }",
    "wrong-types": (
        '{ namespace = 5; addresses = "x"; wireguard = { interface = null; mtu = "x"; listenPort = "x"; }; '
        "gateway = { endpoint = 5; publicKey = [ ]; persistentKeepalive = { }; }; nameservers = 5; "
        "openPorts = null; services = [ 1 ]; uplink = { interface = 5; addresses = [ 1 ]; }; "
        "homes = { a = 5; b = { addresses = [ null ]; }; }; forwardedPorts = 5; mssClamp = 1; }"
    ),
}


@pytest.mark.parametrize("role", ["gateway", "home"])
@pytest.mark.parametrize("intent", GARBAGE_INTENTS.values(), ids=list(GARBAGE_INTENTS))
def test_plans_and_checks_do_not_throw_on_garbage(role: str, intent: str) -> None:
    plan = eval_json(f"{LIB}.{role}Plan {intent}")
    assert plan["role"] == role
    messages = failing_messages(f"{LIB}.{role}Checks {intent}")
    assert messages
    assert all(message.startswith(f"homeMail.{role}.") for message in messages)


# --- normalization ------------------------------------------------------------------------------


def normalized(texts: list[str]) -> list[str | None]:
    result: list[str | None] = eval_json(f"map {LIB}.ip.normalizeAddress {nix_value(texts)}")
    return result


VALID_ADDRESSES = [
    "2001:DB8:1::11",
    "2001:0db8:0001:0000:0000:0000:0000:0011",
    "::",
    "::1",
    "1::",
    "2001:db8:0:0:1:0:0:1",
    "2001:db8::0:1",
    "1:0:0:2:0:0:0:3",
    "1:2:3:4:5:6:0:8",
    "fe80::",
    "::192.0.2.1",
    "198.51.100.11",
    "0.0.0.0",
    "255.255.255.255",
]


def test_normalization_agrees_with_python() -> None:
    assert normalized(VALID_ADDRESSES) == [str(ipaddress.ip_address(text)) for text in VALID_ADDRESSES]


def random_ipv6_text(generator: random.Random) -> tuple[str, str]:
    """A random IPv6 address written in a random valid way, and Python's canonical form of it."""
    groups = [generator.choice([0, 0, 0, 1, 0xDB8, generator.randrange(0x10000)]) for _ in range(8)]
    texts = [f"{group:0{generator.randint(1, 4)}x}" if group < 0x1000 else f"{group:x}" for group in groups]
    texts = [text.upper() if generator.random() < 0.3 else text for text in texts]
    zero_runs = [
        (start, end)
        for start in range(8)
        for end in range(start + 1, 9)
        if all(group == 0 for group in groups[start:end])
    ]
    if zero_runs and generator.random() < 0.7:
        start, end = generator.choice(zero_runs)
        text = ":".join(texts[:start]) + "::" + ":".join(texts[end:])
    else:
        text = ":".join(texts)
    canonical = str(
        ipaddress.IPv6Address(bytes(byte for group in groups for byte in group.to_bytes(2, "big")))
    )
    return text, canonical


def test_random_ipv6_spellings_normalize_like_python() -> None:
    generator = random.Random(20260521)
    pairs = [random_ipv6_text(generator) for _ in range(300)]
    assert normalized([text for text, _ in pairs]) == [canonical for _, canonical in pairs]


INVALID_ADDRESSES = [
    "",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7::8",
    "1:2:3:4:5:6:7",
    "12345::",
    "g::1",
    ":1::",
    "1:::2",
    ":::",
    "1.2.3.4::",
    "::1.2.3.400",
    "198.51.100.256",
    "198.51.100",
    "198.51.100.1.2",
    "198.51.100.011",
    "mail.example.org",
    "2001:db8::/64",
    " 198.51.100.1",
]


def test_malformed_addresses_are_rejected_like_python_rejects_them() -> None:
    for text in INVALID_ADDRESSES:
        with pytest.raises(ValueError):
            ipaddress.ip_address(text)
    assert normalized(INVALID_ADDRESSES) == [None] * len(INVALID_ADDRESSES)


def test_zone_indices_are_rejected() -> None:
    # Python accepts "fe80::1%eth0"; a forwarded or endpoint address must not carry one.
    assert normalized(["fe80::1%eth0"]) == [None]


def test_ipv4_mapped_addresses_are_written_in_hex() -> None:
    mapped = ipaddress.IPv6Address("::ffff:192.0.2.1")
    assert normalized(["::FFFF:192.0.2.1"]) == [
        f"::ffff:{int(mapped) >> 16 & 0xFFFF:x}:{int(mapped) & 0xFFFF:x}"
    ]


def test_cidr_normalization() -> None:
    cidrs = ["2001:0DB8:1:0::11/128", "2001:db8:1:0::/64", "198.51.100.11/32", "198.51.100.11", "1::2::3/64"]
    expected = [str(ipaddress.ip_interface(text)) for text in cidrs[:3]] + ["198.51.100.11", None]
    assert eval_json(f"map {LIB}.ip.normalizeCidr {nix_value(cidrs)}") == expected


def test_plans_carry_normalized_addresses() -> None:
    spelled = ["198.51.100.11/32", "2001:0DB8:0001:0000::0011/128"]
    plans = eval_json(f"{topology({'home': {'addresses': spelled}})}.plans")
    assert plans["home"]["wireguard"]["ips"] == ["198.51.100.11/32", "2001:db8:1::11/128"]
    assert plans["gateway"]["forwardedAddresses"]["ipv6"] == ["2001:db8:1::11"]
    assert plans["gateway"]["proxyNeighbours"] == [{"address": "2001:db8:1::11", "dev": "eth0"}]


# --- the test world's overrides -----------------------------------------------------------------


def test_a_forwarded_address_override_changes_both_plans(gateway_plan: Json, home_plan: Json) -> None:
    moved = ["198.51.100.12/32", "2001:db8:1::12/128"]
    plans = eval_json(f"{topology({'home': {'addresses': moved}})}.plans")
    assert plans["gateway"]["forwardedAddresses"] == host_addresses(moved)
    assert plans["gateway"]["wireguard"]["peers"][0]["allowedIPs"] == moved
    assert [route["destination"] for route in plans["gateway"]["routes"]] == moved
    assert plans["gateway"]["proxyNeighbours"] == [{"address": "2001:db8:1::12", "dev": "eth0"}]
    assert "198.51.100.12" in plans["gateway"]["nftables"]["ruleset"]
    assert "198.51.100.11" not in plans["gateway"]["nftables"]["ruleset"]
    assert plans["home"]["wireguard"]["ips"] == moved
    assert plans["gateway"] != gateway_plan
    assert plans["home"] != home_plan


def test_an_open_ports_override_changes_both_rulesets() -> None:
    plans = eval_json(f"{topology({'home': {'openPorts': {'tcp': [25], 'udp': [443]}}})}.plans")
    for ruleset in (
        plans["gateway"]["nftables"]["content"],
        plans["home"]["namespace"]["nftables"]["content"],
    ):
        assert "tcp dport { 25 }" in ruleset
        assert "udp dport { 443 }" in ruleset
        assert "993" not in ruleset


def test_an_uplink_with_a_dot_gets_slashes_in_sysctl_names() -> None:
    plan = eval_json(f"{topology({'gateway': {'uplink': {'interface': 'ens3.100'}}})}.plans.gateway")
    assert plan["sysctl"]["net.ipv4.conf.ens3/100.proxy_arp"] == 1
    assert plan["sysctl"]["net.ipv6.neigh.ens3/100.proxy_delay"] == 0
    assert plan["proxyNeighbours"][0]["dev"] == "ens3.100"


def test_a_namespace_override_renames_everything_of_the_namespace() -> None:
    plan = eval_json(f"{topology({'home': {'namespace': 'mail'}})}.plans.home")
    assert plan["namespace"]["unit"] == "netns@mail.service"
    assert plan["wireguard"]["interfaceNamespace"] == "mail"
    assert "netns@mail" in plan["units"]
    assert plan["units"]["postfix"]["serviceConfig"]["NetworkNamespacePath"] == "/run/netns/mail"


# --- the exported helpers -----------------------------------------------------------------------


def test_netns_unit_name() -> None:
    assert eval_json(f'{LIB}.netnsUnitName "vpn"') == "netns@vpn.service"


def test_move_ns_with_and_without_extra_dependencies() -> None:
    plain = eval_json(f'{LIB}.moveNs {{ namespace = "vpn"; }}')
    assert plain == {
        "bindsTo": ["netns@vpn.service"],
        "after": ["netns@vpn.service"],
        "wants": [],
        "serviceConfig": {
            "NetworkNamespacePath": "/run/netns/vpn",
            "BindReadOnlyPaths": ["/etc/netns/vpn/resolv.conf:/etc/resolv.conf"],
            "InaccessiblePaths": ["-/run/nscd"],
        },
        "wantedBy": ["netns@vpn.service"],
    }
    extra = eval_json(
        f'{LIB}.moveNs {{ namespace = "vpn"; after = [ "a.service" ]; wants = [ "b.service" ]; }}'
    )
    assert extra["after"] == ["netns@vpn.service", "a.service"]
    assert extra["wants"] == ["b.service"]


def test_move_ns_starts_services_and_instances_with_the_namespace_but_no_template() -> None:
    """A template in netns@vpn.service.wants/ would mean its instance "vpn": it gets no wantedBy."""

    def confined(service: str) -> Json:
        return eval_json(f'{LIB}.moveNs {{ namespace = "vpn"; service = "{service}"; }}')

    assert confined("postfix")["wantedBy"] == ["netns@vpn.service"]
    assert "overrideStrategy" not in confined("postfix")
    instance = confined("kresd@1")
    assert instance["wantedBy"] == ["netns@vpn.service"]
    # Its own unit file would replace the template's; a drop-in extends it.
    assert instance["overrideStrategy"] == "asDropin"
    template = confined("kresd@")
    assert "wantedBy" not in template and "overrideStrategy" not in template
    assert template["serviceConfig"]["NetworkNamespacePath"] == "/run/netns/vpn"


def test_render_unit_puts_executables_in_front_and_quotes_arguments(home_plan: Json) -> None:
    programs = {"ip": "/nix/store/abc-iproute2/bin/ip", "nft": "/x/nft", "nsenter": "/x/nsenter"}
    rendered = eval_json(
        f'{LIB}.renderUnit {nix_value(programs)} ({LIB}.homePlan {topology()}.homeIntent).units."netns@"'
    )
    config = rendered["serviceConfig"]
    assert config["ExecStartPre"] == ['-/nix/store/abc-iproute2/bin/ip "netns" "delete" "%i"']
    assert config["ExecStart"] == ['/nix/store/abc-iproute2/bin/ip "netns" "add" "%i"']
    assert config["Type"] == "oneshot"
    command = nix_value(["nft", "a b", 'say "hi"'])
    quoted = eval_json(f"{LIB}.renderCommand {nix_value(programs)} {command}")
    assert quoted == '/x/nft "a b" "say \\"hi\\""'
    # systemd expands `$NAME` in Exec lines; a plan's `$` is the program's (e.g. sh -c "... $x").
    shell = eval_json(
        f"{LIB}.renderCommand {nix_value({'sh': '/x/sh'})} {nix_value(['sh', '-c', 'echo $x'])}"
    )
    assert shell == '/x/sh "-c" "echo $$x"'
    assert rendered["description"] == home_plan["units"]["netns@"]["description"]
    programs |= {"sysctl": "/x/sysctl"}
    drop_in = eval_json(
        f'{LIB}.renderUnit {nix_value(programs)} ({LIB}.homePlan {topology()}.homeIntent).units."netns@wg"'
    )
    sysctl_line, nft_line = drop_in["serviceConfig"]["ExecStartPost"]
    assert sysctl_line.startswith('/x/nsenter "--net=/run/netns/wg" "--" /x/sysctl "-q" "-w" ')
    assert nft_line == '/x/nsenter "--net=/run/netns/wg" "--" /x/nft "-f" "/etc/netns/wg.nft"'


def test_an_unknown_program_cannot_be_rendered() -> None:
    with pytest.raises(NixEvaluationError, match="sysctl"):
        eval_json(f"{LIB}.renderCommand {{ }} {nix_value(['sysctl', '-w'])}")


def test_nix_string_round_trips_awkward_text() -> None:
    text = 'a "quoted" ${not interpolated} \\ backslash'
    assert eval_json(nix_string(text)) == text


# --- rulesets loaded by nft ---------------------------------------------------------------------


@pytest.fixture
def namespace() -> Any:
    reason = missing_requirement()
    if reason is not None:
        pytest.skip(reason)
    with throwaway_namespace() as name:
        yield name


@pytest.mark.parametrize("overrides", GATEWAY_VARIANTS.values(), ids=list(GATEWAY_VARIANTS))
def test_gateway_ruleset_loads_in_nft(overrides: dict[str, Any], namespace: str, tmp_path: Path) -> None:
    plan = eval_json(f"{topology(overrides)}.plans.gateway")
    objects = load_ruleset(namespace, plan["nftables"]["ruleset"], tmp_path)
    sets = objects_of_kind(objects, "set")
    for family, name in (("ipv4", "forwarded_ipv4"), ("ipv6", "forwarded_ipv6")):
        assert sorted(sets[name].get("elem", [])) == sorted(plan["forwardedAddresses"][family])
    chains = objects_of_kind(objects, "chain")
    assert (chains["forward"]["hook"], chains["forward"]["prio"], chains["forward"]["policy"]) == (
        "forward",
        0,
        "accept",
    )
    mss_clamp = overrides.get("gateway", {}).get("mssClamp", True)
    assert ("mss" in chains) == mss_clamp
    if mss_clamp:
        assert (chains["mss"]["hook"], chains["mss"]["prio"]) == ("forward", -150)
    last_rule = rules_of_chain(objects, "forward")[-1]
    assert {"drop": None} in last_rule["expr"]


@pytest.mark.parametrize("overrides", HOME_VARIANTS.values(), ids=list(HOME_VARIANTS))
def test_home_namespace_ruleset_loads_in_nft(
    overrides: dict[str, Any], namespace: str, tmp_path: Path
) -> None:
    plan = eval_json(f"{topology(overrides)}.plans.home")
    objects = load_ruleset(namespace, plan["namespace"]["nftables"]["ruleset"], tmp_path)
    chains = objects_of_kind(objects, "chain")
    assert {name: (chain["hook"], chain["policy"]) for name, chain in chains.items()} == {
        "input": ("input", "drop"),
        "forward": ("forward", "drop"),
        "output": ("output", "accept"),
    }


def test_nft_rejects_a_broken_ruleset(namespace: str, tmp_path: Path) -> None:
    # The loader really asks nft: `fwd` is a keyword and cannot name a chain.
    with pytest.raises(RulesetRejectedError):
        load_ruleset(namespace, "table inet t {\n\tchain fwd {\n\t}\n}\n", tmp_path)
