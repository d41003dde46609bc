"""Attacks on the lab, each of which must fail: relaying, AUTH without TLS, reaching past the mail
ports or into home's default namespace, spoofing home's domain, and a WireGuard peer with a wrong key.

The module brings up its own full lab (prefix mls-) because some attacks change the gateway for a
while (a compromised gateway, an extra peer); each such change is undone in the test itself.
Every attack runs from inside a lab machine: the client and the remote are "the internet", the
gateway is the vServer, and the mail test agent (mail_lab.mail.agent, through mail_lab.mail.flow)
is the attacker's SMTP client and the listeners' server.
"""

from __future__ import annotations

import base64
import ipaddress
import re
import shlex
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import pytest
from lab_support import require_lab
from layers import Syn, knock, layer_off, syns_seen

from mail_lab.lab.topology import TopologyView
from mail_lab.lab.world import World
from mail_lab.machine.api import Machine
from mail_lab.mail import flow
from mail_lab.polling import retry
from mail_lab.services import dovecot, rspamd
from mail_lab.units.install import add_units
from mail_lab.units.unit import Unit

pytestmark = [pytest.mark.lab, pytest.mark.slow]

PREFIX = "mls-"
FAMILIES = ("ipv4", "ipv6")
# A port that is not in the home intent's openPorts (tcp 25 80 465 993) and one that is.
CLOSED_PORT = 8080
OPEN_PORT = 80
LISTENER_PORTS = (OPEN_PORT, CLOSED_PORT)
INTRUDER_INTERFACE = "wgx"
INTRUDER_NAMESPACE = "intruder"
# A routing table number for the compromised gateway's policy routes.
ATTACK_TABLE = 1001


@dataclass
class Lab:
    world: World

    @property
    def machines(self) -> Mapping[str, Machine]:
        return self.world.machines

    @property
    def view(self) -> TopologyView:
        return self.world.view

    def home_address(self, family: str) -> str:
        return self.view.home.public_address(family)

    def machine_address(self, name: str, family: str) -> str:
        return self.view.machine(name).address(family)

    @property
    def home_name(self) -> str:
        return self.view.machine("home").fqdn

    @property
    def alice(self) -> str:
        return self.view.account("home")

    @property
    def bob(self) -> str:
        return self.view.account("remote")


def listener_unit(name: str, port: int, tag: str, namespace_path: str | None) -> Unit:
    """A tagged TCP server (the agent's `serve`) in home's default namespace or in the one at
    `namespace_path`."""
    serve = flow.serve_argv(port=port, tag=tag, ready_file=f"/run/{name}.ready", log_file=f"/run/{name}.log")
    return Unit(
        name=f"{name}.service",
        exec_start_pre=[["rm", "-f", f"/run/{name}.ready"]],
        exec_start=[serve],
        # Joined by the service manager, as the plan's confined services join it.
        network_namespace_path=namespace_path,
        ready=f"test -e /run/{name}.ready",
        ready_timeout=20.0,
    )


def listener_log(home: Machine, where: str, port: int) -> list[str]:
    """The peer addresses that reached the listener `where` ("default" or "wg") on `port`."""
    return home.succeed(f"cat /run/mls-{where}-{port}.log").split()


@pytest.fixture(scope="module")
def lab() -> Iterator[Lab]:
    require_lab(services=True)
    world = World.up(prefix=PREFIX)
    try:
        home = world.machines["home"]
        confined = world.view.home.namespace.path
        units = [
            listener_unit(f"mls-{where}-{port}", port, f"home-{where}", confined if where == "wg" else None)
            for where in ("default", "wg")
            for port in LISTENER_PORTS
        ]
        add_units(home, units, {})
        home.succeed(f"systemctl start {' '.join(unit.name for unit in units)}")
        yield Lab(world)
    finally:
        world.down()


# --- helpers ------------------------------------------------------------------------------------


def smtp(
    machine: Machine, server: str, port: int, security: flow.Security, *commands: tuple[str, str], **job: Any
) -> Any:
    """One SMTP conversation from `machine` (the agent's `probe`); its JSON result."""
    return flow.probe(machine, server=server, port=port, security=security, commands=commands, **job)


def replies(result: dict[str, Any]) -> dict[str, tuple[int, str]]:
    """Verb -> (code, text) of the last reply to that verb."""
    return {verb: (code, text) for verb, code, text in result["replies"]}


def connect(machine: Machine, address: str, port: int, namespace: str | None = None) -> str | None:
    """The first line a TCP server at address:port sends to `machine`, or None if unreachable."""
    command = f"nc -w 3 {address} {port} </dev/null"
    if namespace:
        command = f"ip netns exec {namespace} {command}"
    status, output = machine.execute(command)
    return output.strip() if status == 0 and output.strip() else None


def drop_counter(machine: Machine, table: str, chain: str, namespace: str | None = None) -> int:
    """Packets counted by the `counter ... drop` rule of an nftables chain."""
    command = f"nft list chain inet {table} {chain}"
    if namespace:
        command = f"ip netns exec {namespace} {command}"
    text = machine.succeed(command)
    found = re.search(r"counter packets (\d+) bytes \d+ drop", text)
    assert found, text
    return int(found.group(1))


def gateway_drops(lab: Lab) -> int:
    return drop_counter(lab.machines["gateway"], "home_mail_gateway", "forward")


def home_namespace_drops(lab: Lab) -> int:
    namespace = lab.view.home.namespace.name
    return drop_counter(lab.machines["home"], "home_mail_netns", "input", namespace)


def address_errors(home: Machine, namespace: str) -> dict[str, int]:
    """IPv4 InAddrErrors and Ip6InAddrErrors of `namespace`: packets for an address it does not
    hold and must not forward (forwarding is off there)."""
    snmp = home.succeed(f"ip netns exec {namespace} cat /proc/net/snmp").splitlines()
    header, values = (line.split()[1:] for line in snmp if line.startswith("Ip: "))
    snmp6 = dict(
        line.split() for line in home.succeed(f"ip netns exec {namespace} cat /proc/net/snmp6").splitlines()
    )
    return {
        "ipv4": int(dict(zip(header, values, strict=True))["InAddrErrors"]),
        "ipv6": int(snmp6["Ip6InAddrErrors"]),
    }


# --- relaying ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("attacker", ["client", "remote", "gateway"])
def test_home_is_no_open_relay(lab: Lab, attacker: str, family: str) -> None:
    """Mail for another domain, from the internet or from the gateway, plain or after STARTTLS,
    from a stranger or claiming home's own domain: refused at RCPT as a relay attempt."""
    machine = lab.machines[attacker]
    for security in ("none", "starttls"):
        for sender in ("stranger@example.com", lab.alice):
            result = smtp(
                machine,
                lab.home_address(family),
                25,
                security,
                ("MAIL", f"FROM:<{sender}>"),
                ("RCPT", "TO:<someone@example.net>"),
                tls_name=lab.home_name,
            )
            code, text = replies(result)["RCPT"]
            assert (code, "Relay access denied") == (554, text.split(": ", 1)[-1]), result


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("attacker", ["client", "remote"])
def test_the_gateway_itself_runs_no_mail_server_to_abuse(lab: Lab, attacker: str, family: str) -> None:
    """The gateway's own address answers no mail port: nothing there can relay."""
    gateway = lab.machine_address("gateway", family)
    for port in (25, 465, 587):
        result = smtp(lab.machines[attacker], gateway, port, "none", timeout=5)
        assert "ConnectionRefusedError" in result.get("error", ""), (port, result)


# --- submission and AUTH ------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_submission_without_auth_is_refused(lab: Lab, family: str) -> None:
    client = lab.machines["client"]
    result = smtp(
        client,
        lab.home_address(family),
        465,
        "tls",
        ("MAIL", f"FROM:<{lab.alice}>"),
        ("RCPT", f"TO:<{lab.bob}>"),
        ("RCPT", f"TO:<{lab.alice}>"),
        tls_name=lab.home_name,
    )
    rcpt_codes = [code for verb, code, _ in result["replies"] if verb == "RCPT"]
    assert rcpt_codes == [554, 554], result
    assert all("Client host rejected" in text for verb, _, text in result["replies"] if verb == "RCPT")
    # Without TLS, port 465 does not even greet: there is no plain-text submission to try AUTH on.
    plain = smtp(client, lab.home_address(family), 465, "none", timeout=4)
    assert "greeting" not in plain and "error" in plain, plain


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("attacker", ["client", "remote"])
def test_port_25_offers_no_auth_and_refuses_it_before_and_after_starttls(
    lab: Lab, attacker: str, family: str
) -> None:
    """Even alice's real password gets nowhere on port 25: AUTH is neither offered nor accepted,
    before STARTTLS (it would travel in plain text) or after it (port 25 is for incoming mail)."""
    credentials = base64.b64encode(f"\0{lab.alice}\0{lab.view.password(lab.alice)}".encode()).decode()
    for security in ("none", "starttls"):
        result = smtp(
            lab.machines[attacker],
            lab.home_address(family),
            25,
            security,
            ("AUTH", f"PLAIN {credentials}"),
            tls_name=lab.home_name,
        )
        assert result["auth"] is None, result
        assert "starttls" in result["keywords"], result
        if security == "starttls":
            assert result["starttls"][0] == 220 and result["auth_after_starttls"] is None, result
        code, text = replies(result)["AUTH"]
        assert code == 503 and "authentication not enabled" in text, result


# --- what of home the internet and the gateway can reach ----------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("attacker", ["client", "remote"])
def test_the_internet_reaches_only_the_open_ports_and_only_the_namespace(
    lab: Lab, attacker: str, family: str
) -> None:
    """Listeners on port 80 (open) and 8080 (not open) run both in `wg` and in home's default
    namespace. From the internet, the public address leads to `wg`'s port 80 only: the gateway's
    forward policy drops 8080 (and 587) although something listens there, and nothing ever
    reaches the default namespace."""
    machine, home = lab.machines[attacker], lab.machines["home"]
    address, own = lab.home_address(family), lab.machine_address(attacker, family)
    assert connect(machine, address, OPEN_PORT) == f"home-wg {own}"
    dropped = gateway_drops(lab)
    assert connect(machine, address, CLOSED_PORT) is None
    assert connect(machine, address, 587) is None
    assert gateway_drops(lab) > dropped, "the gateway's forward policy did not see the attempts"
    assert own in listener_log(home, "wg", OPEN_PORT)
    assert own not in listener_log(home, "wg", CLOSED_PORT)
    for port in LISTENER_PORTS:
        assert own not in listener_log(home, "default", port)


@pytest.mark.parametrize("family", FAMILIES)
def test_the_gateway_reaches_only_the_open_ports_of_home(lab: Lab, family: str) -> None:
    """The gateway's own connections do not pass its forward chain; the namespace's input policy
    stops them instead."""
    gateway, home = lab.machines["gateway"], lab.machines["home"]
    address = lab.home_address(family)
    seen = connect(gateway, address, OPEN_PORT)
    assert seen is not None and seen.startswith("home-wg "), seen
    dropped = home_namespace_drops(lab)
    assert connect(gateway, address, CLOSED_PORT) is None
    assert home_namespace_drops(lab) > dropped, "the namespace's input policy did not see the attempt"
    assert seen.split()[1] not in listener_log(home, "wg", CLOSED_PORT)


# --- each layer alone --------------------------------------------------------------------------
#
# The gateway's forward policy and the namespace's input policy each stop what is not open on
# their own: with the other layer off, every dropped attempt (one port, one SYN) is one increment
# of the layer's drop counter, and a control with this layer off too shows it was what stopped it.

GATEWAY_TABLE, GATEWAY_FORWARD, GATEWAY_MSS = "home_mail_gateway", "forward", "mss"
NAMESPACE_TABLE, NAMESPACE_INPUT = "home_mail_netns", "input"
# Not in openPorts (tcp 25 80 465 993): the listener's port, submission, ssh.
UNOPENED_PORTS = (CLOSED_PORT, 587, 22)
HEADER_BYTES = {"ipv4": 40, "ipv6": 60}


def namespace_of(lab: Lab) -> str:
    return lab.view.home.namespace.name


def home_tunnel(lab: Lab) -> tuple[str, int]:
    """Home's WireGuard interface (in the namespace) and its MTU, from the plan."""
    home = lab.view.home
    return home.interface, int(home.wireguard["mtu"])


@pytest.mark.parametrize("family", FAMILIES)
def test_the_gateway_alone_stops_the_ports_it_does_not_forward(lab: Lab, family: str) -> None:
    client, gateway, home = (lab.machines[name] for name in ("client", "gateway", "home"))
    address, own = lab.home_address(family), lab.machine_address("client", family)
    with layer_off(home, NAMESPACE_TABLE, NAMESPACE_INPUT, namespace_of(lab)):
        for port in UNOPENED_PORTS:
            dropped = gateway_drops(lab)
            assert knock(client, address, port) == "timeout", port
            assert gateway_drops(lab) == dropped + 1, f"port {port}: not one drop by the gateway"
        # Control: with the gateway's policy off as well, the same attempt reaches `wg`'s listener.
        with layer_off(gateway, GATEWAY_TABLE, GATEWAY_FORWARD):
            assert knock(client, address, CLOSED_PORT) == f"open home-wg {own}"


@pytest.mark.parametrize("family", FAMILIES)
def test_the_namespace_alone_stops_the_ports_that_are_not_open(lab: Lab, family: str) -> None:
    client, gateway, home = (lab.machines[name] for name in ("client", "gateway", "home"))
    address, own = lab.home_address(family), lab.machine_address("client", family)
    with layer_off(gateway, GATEWAY_TABLE, GATEWAY_FORWARD):
        for port in UNOPENED_PORTS:
            dropped = home_namespace_drops(lab)
            assert knock(client, address, port) == "timeout", port
            assert home_namespace_drops(lab) == dropped + 1, f"port {port}: not one drop in the namespace"
        # Control: with the namespace's policy off as well, the same attempt reaches the listener.
        with layer_off(home, NAMESPACE_TABLE, NAMESPACE_INPUT, namespace_of(lab)):
            assert knock(client, address, CLOSED_PORT) == f"open home-wg {own}"


@pytest.mark.parametrize("family", FAMILIES)
def test_the_gateway_alone_lets_home_send_only_from_its_forwarded_addresses(lab: Lab, family: str) -> None:
    """The other layers are the namespace (it holds only the forwarded addresses) and WireGuard
    (a peer's packets must come from its allowed IPs): both are widened to an address next to the
    forwarded one, and the gateway's forward policy still drops what home sends from it."""
    gateway, home, remote = (lab.machines[name] for name in ("gateway", "home", "remote"))
    namespace = namespace_of(lab)
    home_key = lab.view.keys["home"]["public"]
    length = 32 if family == "ipv4" else 128
    forwarded = f"{lab.home_address('ipv4')}/32,{lab.home_address('ipv6')}/128"
    spoofed = str(ipaddress.ip_address(lab.home_address(family)) + 88)
    tunnel, _ = home_tunnel(lab)
    target = lab.machine_address("remote", family)
    try:
        nodad = " nodad" if family == "ipv6" else ""
        home.succeed(f"ip -n {namespace} address add {spoofed}/{length} dev {tunnel}{nodad}")
        gateway.succeed(f"wg set wg0 peer {home_key} allowed-ips {forwarded},{spoofed}/{length}")
        with syns_seen(remote) as seen:
            dropped = gateway_drops(lab)
            assert knock(home, target, 25, namespace, source=spoofed) == "timeout"
            assert gateway_drops(lab) == dropped + 1, "not one drop by the gateway"
            assert not {syn for syn in seen() if syn.source == spoofed}
            # Control: with the gateway's policy off, the same SYN reaches the remote (whose answer
            # has no way back to an address the gateway does not forward).
            with layer_off(gateway, GATEWAY_TABLE, GATEWAY_FORWARD):
                assert knock(home, target, 25, namespace, source=spoofed) == "timeout"
            assert {syn.port for syn in seen() if syn.source == spoofed} == {25}
        # From its forwarded address, home reaches the remote as always.
        assert knock(home, target, 25, namespace, source=lab.home_address(family)).startswith("open 220 ")
    finally:
        gateway.succeed(f"wg set wg0 peer {home_key} allowed-ips {forwarded}")
        home.execute(f"ip -n {namespace} address del {spoofed}/{length} dev {tunnel}")


@pytest.mark.parametrize("family", FAMILIES)
def test_the_gateway_clamps_the_mss_both_ways(lab: Lab, family: str) -> None:
    """SYNs cross the gateway with their MSS cut to what fits the tunnel (its MTU less the IP and
    TCP headers). Inbound the client's link advertises 1460; outbound home's own tunnel MTU (the
    other layer) is raised to 1500 so that home advertises 1460 too. Control: with the clamp off,
    1460 arrives on both sides."""
    client, gateway, home, remote = (lab.machines[name] for name in ("client", "gateway", "home", "remote"))
    namespace = namespace_of(lab)
    clamped = int(lab.view.gateway.wireguard["mtu"]) - HEADER_BYTES[family]
    unclamped = 1500 - HEADER_BYTES[family]
    address, client_address = lab.home_address(family), lab.machine_address("client", family)
    target = lab.machine_address("remote", family)

    def mss_at_home(seen: Callable[[], set[Syn]]) -> set[int]:
        assert knock(client, address, OPEN_PORT) == f"open home-wg {client_address}"
        return {syn.mss for syn in seen() if syn.source == client_address and syn.port == OPEN_PORT}

    def mss_at_remote(seen: Callable[[], set[Syn]]) -> set[int]:
        assert knock(home, target, 25, namespace).startswith("open 220 ")
        return {syn.mss for syn in seen() if syn.source == address and syn.port == 25}

    with syns_seen(home, namespace) as seen:
        assert mss_at_home(seen) == {clamped}
    with syns_seen(home, namespace) as seen, layer_off(gateway, GATEWAY_TABLE, GATEWAY_MSS):
        assert mss_at_home(seen) == {unclamped}
    tunnel, tunnel_mtu = home_tunnel(lab)
    try:
        home.succeed(f"ip -n {namespace} link set {tunnel} mtu 1500")
        with syns_seen(remote) as seen:
            assert mss_at_remote(seen) == {clamped}
        with syns_seen(remote) as seen, layer_off(gateway, GATEWAY_TABLE, GATEWAY_MSS):
            assert mss_at_remote(seen) == {unclamped}
    finally:
        home.succeed(f"ip -n {namespace} link set {tunnel} mtu {tunnel_mtu}")


@pytest.mark.parametrize("family", FAMILIES)
def test_kresd_alone_answers_no_one_outside_the_namespace(lab: Lab, family: str) -> None:
    """With both policies off, DNS to the public address still gets no answer: kresd listens on
    `wg`'s loopback only. Control: the same path reaches the listener on 8080."""
    client, gateway, home = (lab.machines[name] for name in ("client", "gateway", "home"))
    address, own = lab.home_address(family), lab.machine_address("client", family)
    domain = lab.view.domain("home")
    with (
        layer_off(gateway, GATEWAY_TABLE, GATEWAY_FORWARD),
        layer_off(home, NAMESPACE_TABLE, NAMESPACE_INPUT, namespace_of(lab)),
    ):
        assert knock(client, address, CLOSED_PORT) == f"open home-wg {own}"
        for transport in ("+notcp", "+tcp"):
            client.fail(f"kdig {transport} +timeout=2 +retry=0 @{address} {domain} MX")


@pytest.mark.parametrize("family", FAMILIES)
def test_the_public_addresses_are_no_open_resolver(lab: Lab, family: str) -> None:
    """kresd serves `wg` on its loopback only; DNS to the public address (UDP or TCP) gets nothing."""
    client, home = lab.machines["client"], lab.machines["home"]
    namespace = lab.view.home.namespace.name
    domain = lab.view.domain("home")
    assert home.succeed(f"ip netns exec {namespace} kdig +short +timeout=5 @127.0.0.1 {domain} MX").strip()
    for transport in ("+notcp", "+tcp"):
        client.fail(f"kdig {transport} +timeout=2 +retry=0 @{lab.home_address(family)} {domain} MX")


def test_a_compromised_gateway_cannot_reach_homes_default_namespace(lab: Lab) -> None:
    """The gateway's operator routes traffic for home's ISP addresses into the tunnel and lets its
    WireGuard peer carry it. The packets do arrive in `wg`, which holds no such address and
    forwards nothing: the listener in home's default namespace never sees them."""
    gateway, home = lab.machines["gateway"], lab.machines["home"]
    namespace = lab.view.home.namespace.name
    home_key = lab.view.keys["home"]["public"]
    forwarded = [f"{lab.home_address('ipv4')}/32", f"{lab.home_address('ipv6')}/128"]
    targets = {family: lab.machine_address("home", family) for family in FAMILIES}
    # The listener works (asked from home itself).
    assert connect(home, "127.0.0.1", CLOSED_PORT) == "home-default 127.0.0.1"
    before = address_errors(home, namespace)
    attack = [
        f"wg set wg0 peer {home_key} allowed-ips "
        + ",".join([*forwarded, f"{targets['ipv4']}/32", f"{targets['ipv6']}/128"]),
        # Only TCP to the listener's port: WireGuard's own UDP to home must still go by the internet.
        f"ip -4 rule add to {targets['ipv4']} ipproto tcp dport {CLOSED_PORT} lookup {ATTACK_TABLE}",
        f"ip -6 rule add to {targets['ipv6']} ipproto tcp dport {CLOSED_PORT} lookup {ATTACK_TABLE}",
        f"ip -4 route add default dev wg0 table {ATTACK_TABLE}",
        f"ip -6 route add default dev wg0 table {ATTACK_TABLE}",
    ]
    try:
        gateway.succeed(*attack)
        for family, target in targets.items():
            route = gateway.succeed(f"ip route get {target} ipproto tcp dport {CLOSED_PORT}")
            assert "dev wg0" in route, (family, route)
            assert connect(gateway, target, CLOSED_PORT) is None, family
    finally:
        for undo in (
            f"wg set wg0 peer {home_key} allowed-ips {','.join(forwarded)}",
            f"ip -4 rule del lookup {ATTACK_TABLE}",
            f"ip -6 rule del lookup {ATTACK_TABLE}",
            f"ip -4 route flush table {ATTACK_TABLE}",
            f"ip -6 route flush table {ATTACK_TABLE}",
        ):
            gateway.execute(undo)
    after = address_errors(home, namespace)
    for family in FAMILIES:
        assert after[family] > before[family], f"no {family} attack packet arrived in `{namespace}`"
    gateway_address = lab.machine_address("gateway", "ipv4")
    assert not {gateway_address, lab.machine_address("gateway", "ipv6")} & set(
        listener_log(home, "default", CLOSED_PORT)
    )
    # The gateway is as it was: home's addresses only.
    allowed = gateway.succeed("wg show wg0 allowed-ips").split()[1:]
    assert sorted(allowed) == sorted(forwarded)


# --- spoofing -------------------------------------------------------------------------------------


@pytest.mark.parametrize("family", FAMILIES)
def test_mail_spoofing_homes_domain_is_rejected_by_dmarc(lab: Lab, family: str) -> None:
    """example.org publishes DMARC p=reject; rspamd enforces it at SMTP time (reject, not quarantine).
    From the remote the envelope is its own (SPF passes for example.net, unaligned with From:);
    from the client the envelope claims example.org too (SPF fails)."""
    client, remote, home = lab.machines["client"], lab.machines["remote"], lab.machines["home"]
    domain = lab.view.domain("home")
    published = client.succeed(
        f"kdig +short @{lab.view.world['internet']['dns']['ipv4']} TXT _dmarc.{domain}"
    )
    [dmarc] = [
        r["data"] for r in lab.world.topology["dns"]["zones"][domain] if r["name"] == f"_dmarc.{domain}"
    ]
    assert published.strip() == dmarc and "p=reject" in dmarc
    address = lab.home_address(family)
    # Who spoofs, with which envelope sender and HELO; From: is home's domain for both.
    spoofers = {
        "remote": (remote, lab.bob, lab.view.machine("remote").fqdn),
        "client": (client, lab.alice, "client.example.net"),
    }
    attempts = {
        source: flow.submit(
            machine,
            server=address,
            tls_name=lab.home_name,
            sender=sender,
            header_from=lab.alice,
            recipient=lab.alice,
            helo=helo,
            tag=f"spoof-{source}-{family}",
        )
        for source, (machine, sender, helo) in spoofers.items()
    }
    for source, attempt in attempts.items():
        # rspamd's "reject" action: postfix refuses the message after DATA.
        assert not attempt.accepted and attempt.code == 554, (source, attempt)
        assert "rejected" in attempt.text, (source, attempt)
        log = home.succeed(
            f"grep -F -- {shlex.quote(attempt.message_id)} {rspamd.LOG_DIR}/rspamd.log || true"
        )
        assert "DMARC_POLICY_REJECT" in log, (source, log)
        maildir = dovecot.maildir_of(lab.alice)
        home.fail(f"grep -rlF -- {shlex.quote(attempt.message_id)} {maildir}")


# --- WireGuard --------------------------------------------------------------------------------


def intruder_setup(lab: Lab) -> list[str]:
    """Commands (in the client machine) for an intruder that poses as home: home's addresses in a
    namespace whose only way out is a WireGuard tunnel to the gateway, with a key the gateway does
    not know (tests/topology.nix keys.intruder)."""
    key_file = "/run/mls-intruder.key"
    lab.machines["client"].write_file(key_file, lab.view.keys["intruder"]["private"] + "\n", mode=0o600)
    endpoint = lab.view.home.peers[0]["endpoint"]
    ns, wg = INTRUDER_NAMESPACE, INTRUDER_INTERFACE
    return [
        f"ip netns add {ns}",
        f"ip link set {wg} netns {ns}",
        f"ip -n {ns} link set lo up",
        f"ip -n {ns} address add {lab.home_address('ipv4')}/32 dev {wg}",
        f"ip -n {ns} address add {lab.home_address('ipv6')}/128 dev {wg}",
        f"ip netns exec {ns} wg set {wg} private-key {key_file} peer {lab.view.keys['gateway']['public']}"
        f" endpoint {endpoint} allowed-ips 0.0.0.0/0,::/0",
        f"ip -n {ns} link set {wg} up",
        f"ip -n {ns} -4 route add default dev {wg}",
        f"ip -n {ns} -6 route add default dev {wg}",
    ]


def intruder_handshake(client: Machine) -> int:
    output = client.succeed(
        f"ip netns exec {INTRUDER_NAMESPACE} wg show {INTRUDER_INTERFACE} latest-handshakes"
    )
    return int(output.split()[1])


def handshake_packets(gateway: Machine) -> int:
    text = gateway.succeed("nft list chain inet mls_probe input")
    found = re.search(r"counter packets (\d+)", text)
    assert found, text
    return int(found.group(1))


def test_a_wireguard_peer_with_a_wrong_key_gets_nothing_through(lab: Lab) -> None:
    client, gateway, remote = (lab.machines[n] for n in ("client", "gateway", "remote"))
    client_address = lab.machine_address("client", "ipv4")
    listen_port = lab.view.gateway.wireguard["listenPort"]
    home_endpoint = lab.machine_address("home", "ipv4")
    intruder_key = lab.view.keys["intruder"]["public"]
    # Count what the intruder sends to the gateway's WireGuard port.
    gateway.succeed(
        "nft add table inet mls_probe",
        "nft add chain inet mls_probe input '{ type filter hook input priority -5; policy accept; }'",
        f"nft add rule inet mls_probe input ip saddr {client_address} udp dport {listen_port} counter",
    )
    add_units(
        client,
        [
            Unit(
                name="mls-intruder.service",
                exec_start=[["wireguard-go", "--foreground", INTRUDER_INTERFACE]],
                environment={"WG_PROCESS_FOREGROUND": "1", "LOG_LEVEL": "error"},
                ready=f"test -S /run/wireguard/{INTRUDER_INTERFACE}.sock",
            )
        ],
        {},
    )
    client.succeed("systemctl start mls-intruder.service")
    try:
        client.succeed(*intruder_setup(lab))
        in_namespace = f"ip netns exec {INTRUDER_NAMESPACE}"
        # As home: send mail out through the gateway, reach home's own services, ping the world.
        remote_address = lab.machine_address("remote", "ipv4")
        assert connect(client, remote_address, 25, INTRUDER_NAMESPACE) is None
        assert connect(client, lab.machine_address("remote", "ipv6"), 25, INTRUDER_NAMESPACE) is None
        client.fail(f"{in_namespace} ping -c 1 -W 2 {remote_address}")
        # Handshake initiations are retried every 5 s: once two arrived, the first one's answer
        # would have been back long since.
        retry(lambda: handshake_packets(gateway) >= 2, 40, 0.1, "two handshake attempts at the gateway")
        assert intruder_handshake(client) == 0
        assert client.succeed(f"{in_namespace} wg show {INTRUDER_INTERFACE} transfer").split()[1] == "0"
        dump = gateway.succeed("wg show wg0 dump").splitlines()[1:]
        assert [line.split("\t")[0] for line in dump] == [lab.view.keys["home"]["public"]]
        assert dump[0].split("\t")[2].startswith(f"{home_endpoint}:"), (
            "the intruder took over home's endpoint"
        )
        # Home is untouched: its tunnel still carries mail ports from the internet.
        assert connect(remote, lab.home_address("ipv4"), OPEN_PORT) == f"home-wg {remote_address}"

        # Control: the same intruder, once the gateway knows its key, does get a handshake, so the
        # refusal above is the key's doing, not a broken setup.
        gateway.succeed(f"wg set wg0 peer {intruder_key} allowed-ips 192.0.2.254/32")
        try:

            def handshaken() -> bool:
                client.execute(f"{in_namespace} ping -c 1 -W 1 {remote_address}")
                return intruder_handshake(client) > 0

            retry(handshaken, 30, 0.1, "the control handshake")
        finally:
            gateway.succeed(f"wg set wg0 peer {intruder_key} remove")
    finally:
        # Stopping wireguard-go deletes its interface; then the namespace goes.
        client.succeed("systemctl stop mls-intruder.service")
        client.execute(f"ip netns del {INTRUDER_NAMESPACE}")
        gateway.execute("nft delete table inet mls_probe")
    assert [line.split("\t")[0] for line in gateway.succeed("wg show wg0 dump").splitlines()[1:]] == [
        lab.view.keys["home"]["public"]
    ]
