"""home-mail-doctor on the shared lab: all ok when healthy; each injected fault fails its check.

The doctor runs inside the lab machines as the command `home-mail-doctor --json` (what the
modules put on PATH in NixOS; the lab installs it the same way), reading the plan the lab wrote
to /etc/home-mail/plan.json. Every test restores what it broke, then proves the report is
healthy again. DNS faults edit the lab's zones (knot) and clear the
resolver's cache at home (kresd), which the doctor asks through the namespace.
"""

from __future__ import annotations

import base64
import json
import re
import shlex
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from mail_lab.lab.log_scan import LogScan
from mail_lab.lab.realize import DOCTOR_COMMAND
from mail_lab.lab.world import World
from mail_lab.machine.api import Machine
from mail_lab.net.namespaces import namespace_path
from mail_lab.services import dns as knot
from mail_lab.services import dovecot, kresd, postfix
from mail_lab.services.tls import LabCA

pytestmark = [pytest.mark.lab]

# Rows that are not ok on a healthy lab, with why: the ACME order is a timer's job, not a daemon;
# the gateway holds no DKIM key.
HEALTHY_EXCEPTIONS = {
    "home": {"confined acme-order-renew-mail.example.org.service": "skipped"},
    "gateway": {"dns DKIM": "skipped"},
}
Report = dict[str, dict[str, Any]]


class Doctor:
    def __init__(self, world: World):
        self.world = world
        self.view = world.view
        self.domain = self.view.domain("home")
        self.mail_name = str(self.view.doctor("home")["mailName"])
        self.dnsbl = str(self.view.world["dnsbl"])

    def machine(self, role: str) -> Machine:
        return self.world.machines[role]

    def report(self, role: str, arguments: str = "") -> tuple[int, Report]:
        code, out = self.machine(role).execute(f"{DOCTOR_COMMAND} --json {arguments}", timeout=120)
        parsed = json.loads(out)
        assert parsed["exitCode"] == code, parsed
        return code, {row["name"]: row for row in parsed["checks"]}

    def not_ok(self, role: str, arguments: str = "") -> dict[str, str]:
        """Every row whose status is not the healthy lab's, as name -> status."""
        _, rows = self.report(role, arguments)
        normal = HEALTHY_EXCEPTIONS[role]
        return {name: row["status"] for name, row in rows.items() if row["status"] != normal.get(name, "ok")}

    def assert_only(self, role: str, failing: dict[str, str], fix: str, arguments: str = "") -> None:
        """Exactly `failing` (name -> status) is red, and the first of them names `fix`."""
        code, rows = self.report(role, arguments)
        normal = HEALTHY_EXCEPTIONS[role]
        seen = {n: r["status"] for n, r in rows.items() if r["status"] != normal.get(n, "ok")}
        assert seen == failing, json.dumps(rows, indent=1)
        assert fix in str(rows[next(iter(failing))]["fix"]), rows[next(iter(failing))]
        assert code == (2 if "fail" in failing.values() else 1)

    # --- DNS: the zones knot serves, and the cache of home's resolver ---------------------------

    def zone(self, zone: str) -> str:
        return self.machine("internet").succeed(f"cat {knot.ZONE_DIR}/{zone}.zone")

    def load_zone(self, zone: str, text: str) -> None:
        internet = self.machine("internet")
        internet.write_file(f"{knot.ZONE_DIR}/{zone}.zone", text)
        internet.succeed(f"knotc --config {knot.CONFIG} -b zone-reload {shlex.quote(zone)}")
        control = f"{kresd.CONTROL_DIR}/{kresd.INSTANCE}"
        clear = (
            "import socket; s = socket.socket(socket.AF_UNIX); s.settimeout(5); "
            f"s.connect({control!r}); s.sendall(b'cache.clear()\\n'); s.recv(4096)"
        )
        self.machine("home").succeed(f"python3 -c {shlex.quote(clear)}")

    @contextmanager
    def zone_changed(self, zone: str, change: Callable[[str], str]) -> Iterator[None]:
        original = self.zone(zone)
        serial = int(re.search(r" SOA \S+ \S+ (\d+) ", original).group(1))  # type: ignore[union-attr]
        changed = change(original)
        assert changed != original, "the change changed nothing"
        self.load_zone(zone, re.sub(r"( SOA \S+ \S+ )\d+", rf"\g<1>{serial + 1}", changed, count=1))
        try:
            yield
        finally:
            self.load_zone(zone, re.sub(r"( SOA \S+ \S+ )\d+", rf"\g<1>{serial + 2}", original, count=1))


@pytest.fixture(scope="module")
def doctor(mail_world: World) -> Doctor:
    doctor = Doctor(mail_world)
    # Right after boot the gateway learns home's endpoint before its loop saves it (every
    # saveInterval seconds); the doctor rightly calls that file stale until then.
    memory = doctor.view.gateway.endpoint_memory
    interface = doctor.view.gateway.interface
    doctor.machine("gateway").wait_until_succeeds(
        f"wg show {interface} endpoints | tr '\\t' ' ' | cmp -s - {memory['file']}",
        timeout=3 * int(memory["saveInterval"]),
    )
    return doctor


@pytest.fixture
def healthy(doctor: Doctor) -> Iterator[Doctor]:
    """Each test leaves the lab healthy, as the doctor sees it (the first test proves the start)."""
    yield doctor
    for role in ("gateway", "home"):
        assert doctor.not_ok(role) == {}, f"{role} not restored"


@contextmanager
def changed(machine: Machine, inject: str, restore: str) -> Iterator[None]:
    machine.succeed(inject)
    try:
        yield
    finally:
        machine.succeed(restore)


# --- healthy ---------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["gateway", "home"])
def test_healthy_lab_is_all_ok(doctor: Doctor, role: str) -> None:
    code, rows = doctor.report(role)
    assert {n: r["status"] for n, r in rows.items() if r["status"] != "ok"} == HEALTHY_EXCEPTIONS[role]
    assert code == 0
    assert all(r["fix"] is None for r in rows.values())
    # The whole report: every check of the role is there.
    plan = doctor.view.plan(role).data
    forwarded = [*(plan["forwardedAddresses"] if role == "gateway" else plan["addresses"]).values()]
    addresses = [a for family in forwarded for a in family]
    expected = {
        f"dns MX {doctor.domain}",
        f"dns A {doctor.mail_name}",
        f"dns AAAA {doctor.mail_name}",
        f"dns SPF {doctor.domain}",
        f"dns DMARC {doctor.domain}",
        *(f"dns PTR {a}" for a in addresses),
        *(f"dnsbl {doctor.dnsbl} {a}" for a in addresses),
    }
    if role == "gateway":
        expected |= {f"sysctl {k}" for k in plan["sysctl"]}
        expected |= {f"route {r['destination']}" for r in plan["routes"]}
        expected |= {f"proxy neighbour {n['address']}" for n in plan["proxyNeighbours"]}
        expected |= {f"smtp {a}" for a in addresses}
        expected |= {"uplink without forwarded addresses", "saved endpoints", "gateway nftables", "dns DKIM"}
        expected |= {f"wireguard.peer home {what}" for what in ("allowed IPs", "endpoint", "handshake")}
    else:
        expected |= {
            "namespace",
            "wireguard.interface in namespace",
            "wireguard.interface not in host",
            "namespace addresses",
            "namespace default routes",
            "namespace nftables",
            "namespace resolver",
            "postfix queue",
            f"dns DKIM {doctor.domain}",
            *(f"source {f} {w}" for f in ("ipv4", "ipv6") for w in ("in namespace", "outside")),
            *(f"tls {port}" for port in (25, 465, 993)),
            *(f"wireguard.peer gateway {what}" for what in ("allowed IPs", "endpoint", "handshake")),
            *(f"confined {u}.service" for u in ("postfix", "dovecot", "kresd@1")),
            "confined acme-order-renew-mail.example.org.service",
        }
    assert set(rows) == expected


def test_records_are_what_the_lab_serves(doctor: Doctor) -> None:
    """Every record `records` prints at home is in the lab's zones (the DNS checks pass on them)."""
    printed = doctor.machine("home").succeed(f"{DOCTOR_COMMAND} records")
    lines = [line.split(maxsplit=4) for line in printed.splitlines() if line and not line.startswith(";")]
    assert sorted(rtype for _, _, _, rtype, _ in lines) == [
        "A",
        "AAAA",
        "MX",
        "PTR",
        "PTR",
        "TXT",
        "TXT",
        "TXT",
    ]
    zones = doctor.machine("internet").succeed(f"cat {knot.ZONE_DIR}/*.zone")
    served = {
        (name, rtype, data.strip('"').replace('" "', ""))
        for name, _, _, rtype, data in (line.split(maxsplit=4) for line in zones.splitlines() if line.strip())
    }
    for name, _, _, rtype, data in lines:
        assert (name, rtype, data.strip('"').replace('" "', "")) in served, (name, rtype, data)


# --- gateway faults ----------------------------------------------------------------------------


def test_proxy_neighbour_deleted(healthy: Doctor) -> None:
    entry = healthy.view.gateway.data["proxyNeighbours"][0]
    add = f"ip -6 neigh add proxy {entry['address']} dev {entry['dev']}"
    with changed(healthy.machine("gateway"), add.replace(" add ", " del "), add):
        healthy.assert_only("gateway", {f"proxy neighbour {entry['address']}": "fail"}, add)


def test_forwarded_address_on_the_uplink(healthy: Doctor) -> None:
    address = healthy.view.gateway.data["forwardedAddresses"]["ipv4"][0]
    uplink = healthy.view.gateway.data["uplink"]["interface"]
    add = f"ip address add {address}/32 dev {uplink}"
    with changed(healthy.machine("gateway"), add, add.replace(" add ", " delete ")):
        # The gateway now answers for it itself, so home's banner is gone too.
        healthy.assert_only(
            "gateway",
            {"uplink without forwarded addresses": "fail", f"smtp {address}": "fail"},
            f"ip address delete {address}/32 dev {uplink}",
        )


def test_wrong_allowed_ip(healthy: Doctor) -> None:
    peer = healthy.view.gateway.peers[0]
    interface = healthy.view.gateway.interface
    allowed = ",".join(peer["allowedIPs"])
    with changed(
        healthy.machine("gateway"),
        f"wg set {interface} peer {peer['publicKey']} allowed-ips {allowed},198.51.100.99/32",
        f"wg set {interface} peer {peer['publicKey']} allowed-ips {allowed}",
    ):
        healthy.assert_only("gateway", {"wireguard.peer home allowed IPs": "fail"}, f"allowed-ips {allowed}")


@pytest.mark.parametrize(
    ("key", "wrong"), [("net.ipv4.conf.eth0.proxy_arp", 0), ("net.ipv6.neigh.eth0.proxy_delay", 80)]
)
def test_gateway_sysctl_off(healthy: Doctor, key: str, wrong: int) -> None:
    right = healthy.view.gateway.data["sysctl"][key]
    with changed(healthy.machine("gateway"), f"sysctl -w {key}={wrong}", f"sysctl -w {key}={right}"):
        healthy.assert_only("gateway", {f"sysctl {key}": "fail"}, f"sysctl -w {key}={right}")


def test_route_into_the_tunnel_missing(healthy: Doctor) -> None:
    route = healthy.view.gateway.data["routes"][1]
    address = route["destination"].split("/")[0]
    add = f"ip route add {route['destination']} dev {route['dev']}"
    with changed(healthy.machine("gateway"), add.replace(" add ", " del "), add):
        healthy.assert_only(
            "gateway",
            {f"route {route['destination']}": "fail", f"smtp {address}": "fail"},
            f"ip route replace {route['destination']} dev {route['dev']}",
        )


def test_saved_endpoint_stale(healthy: Doctor) -> None:
    memory = healthy.view.gateway.endpoint_memory
    gateway = healthy.machine("gateway")
    saved = gateway.succeed(f"cat {memory['file']}")
    gateway.succeed(f"systemctl stop {memory['unit']}.service")  # its loop would mend the file
    try:
        key = saved.split()[0]
        gateway.write_file(memory["file"], f"{key} 203.0.113.99:1\n")
        healthy.assert_only(
            "gateway", {"saved endpoints": "fail"}, f"systemctl restart {memory['unit']}.service"
        )
    finally:
        gateway.write_file(memory["file"], saved)
        gateway.succeed(f"systemctl start {memory['unit']}.service")


def test_mss_clamp_missing(healthy: Doctor) -> None:
    table = healthy.view.gateway.data["nftables"]
    gateway = healthy.machine("gateway")
    with changed(
        gateway,
        f"nft flush chain {table['family']} {table['name']} mss",
        f"nft delete table {table['family']} {table['name']} && nft -f - <<'EOF'\n{table['ruleset']}EOF",
    ):
        healthy.assert_only("gateway", {"gateway nftables": "fail"}, "networking.nftables")


# --- home faults -----------------------------------------------------------------------------


def test_ipv6_default_route_removed_in_namespace(healthy: Doctor) -> None:
    ns = healthy.view.home.namespace.name
    interface = healthy.view.home.interface
    add = f"ip -n {ns} route add ::/0 dev {interface}"
    with changed(healthy.machine("home"), add.replace(" add ", " del "), add):
        healthy.assert_only(
            "home",
            {"namespace default routes": "fail", "source ipv6 in namespace": "fail"},
            f"ip -n {ns} route add ::/0 dev {interface}",
        )


def test_isp_address_inside_the_namespace(healthy: Doctor) -> None:
    ns = healthy.view.home.namespace.name
    interface = healthy.view.home.interface
    add = f"ip -n {ns} address add 203.0.113.21/32 dev {interface}"
    with changed(healthy.machine("home"), add, add.replace(" add ", " delete ")):
        healthy.assert_only(
            "home",
            {"namespace addresses": "fail"},
            f"ip -n {ns} address delete 203.0.113.21/32 dev {interface}",
        )


def test_leftover_interface_in_the_host_namespace(healthy: Doctor) -> None:
    interface = healthy.view.home.interface
    with changed(
        healthy.machine("home"), f"ip tuntap add dev {interface} mode tun", f"ip link delete {interface}"
    ):
        healthy.assert_only(
            "home", {"wireguard.interface not in host": "fail"}, f"ip link delete {interface}"
        )


def test_namespace_firewall_not_loaded(healthy: Doctor) -> None:
    ns = healthy.view.home.namespace
    table = ns.data["nftables"]
    with changed(
        healthy.machine("home"),
        f"ip netns exec {ns.name} nft delete table {table['family']} {table['name']}",
        f"ip netns exec {ns.name} nft -f - <<'EOF'\n{table['ruleset']}EOF",
    ):
        healthy.assert_only("home", {"namespace nftables": "fail"}, f"systemctl restart {ns.data['unit']}")


def test_tunnel_silent_past_the_handshake_limit(healthy: Doctor) -> None:
    """The limits are the plan's: with a limit of 0 s, any handshake is too old."""
    home = healthy.machine("home")
    doctor_plan = dict(healthy.view.doctor("home"))
    doctor_plan["limits"] = {**doctor_plan["limits"], "handshakeWarn": 0, "handshakeFail": 0}
    home.write_file("/run/doctor-limits.json", json.dumps(doctor_plan), mode=0o600)
    home.sleep(1)  # a handshake of this very second is 0 s old
    healthy.assert_only(
        "home", {"wireguard.peer gateway handshake": "fail"}, "wg show", "--plan /run/doctor-limits.json"
    )


def test_expired_certificate(healthy: Doctor, daemon_log_scan: LogScan) -> None:
    """The mail name's certificate (the lab CA's, as ACME's would be) expired: postfix (25, 465)
    and dovecot (993) present it until renewed."""
    daemon_log_scan.expect(
        "postfix",
        r"warning: TLS library problem: .*sslv3 alert certificate expired",
        "test_expired_certificate: the doctor's TLS probe refuses the expired certificate",
    )
    home = healthy.machine("home")
    ca = LabCA.create(healthy.world.config.state_root)
    expired = ca.issue_expired([healthy.mail_name])
    files = [postfix.TLS, dovecot.TLS]
    kept = {f: (home.succeed(f"cat {f.certificate}"), home.succeed(f"cat {f.key}")) for f in files}
    restart = "systemctl restart postfix.service dovecot.service"
    try:
        for tls_files in files:
            tls_files.install(home, expired)
        home.succeed(restart)
        healthy.assert_only(
            "home",
            {"tls 25": "fail", "tls 465": "fail", "tls 993": "fail"},
            f"renew the certificate of {healthy.mail_name}",
        )
    finally:
        for tls_files, (certificate, key) in kept.items():
            home.write_file(tls_files.certificate, certificate, mode=0o644)
            home.write_file(tls_files.key, key, mode=0o600)
        home.succeed(restart)


def test_confined_daemon_left_in_an_old_namespace(healthy: Doctor) -> None:
    """dovecot runs in a namespace that is not the one at the plan's path, as when the namespace is
    recreated while dovecot keeps the old one: started while the path named another namespace, it
    keeps that one. Its port 993 is then gone from the namespace the tunnel reaches."""
    ns = healthy.view.home.namespace
    home = healthy.machine("home")
    old = f"{ns.name}-old"
    home.succeed(
        f"ip netns add {old} && ip -n {old} link set lo up && mount --bind {namespace_path(old)} {ns.path}"
    )
    try:
        home.succeed("systemctl restart dovecot.service")
    finally:
        # Detached, not unmounted: under systemd the bind also reached the service's own mount
        # namespace (shared propagation), which keeps it busy.
        home.succeed(f"umount --lazy {ns.path}")
    try:
        healthy.assert_only(
            "home",
            {"confined dovecot.service": "fail", "tls 993": "fail"},
            "systemctl restart dovecot.service",
        )
    finally:
        home.succeed("systemctl restart dovecot.service")
        home.succeed(f"ip netns delete {old}")


def test_deferred_mail_in_the_queue(healthy: Doctor) -> None:
    """Mail postfix cannot deliver yet (its domain's name server fails: SERVFAIL) waits in the
    deferred queue; with the plan's age limit at 0 s, the queue check warns."""
    home = healthy.machine("home")
    doctor_plan = dict(healthy.view.doctor("home"))
    doctor_plan["limits"] = {**doctor_plan["limits"], "queueWarnAge": 0}
    home.write_file("/run/doctor-queue.json", json.dumps(doctor_plan), mode=0o600)
    sender = healthy.view.account("home")
    home.succeed(f"printf 'Subject: deferred\\n\\nx\\n' | sendmail -f {sender} nobody@unserved.test")
    try:
        home.wait_until_succeeds('postqueue -j | grep -q \'"queue_name": *"deferred"\'', timeout=60)
        home.sleep(1)  # a message deferred this very second is 0 s old
        healthy.assert_only(
            "home", {"postfix queue": "warn"}, "postqueue -p", "--plan /run/doctor-queue.json"
        )
    finally:
        home.succeed("postsuper -d ALL deferred")


# --- DNS and deliverability faults -------------------------------------------------------------


def test_zone_without_the_aaaa(healthy: Doctor) -> None:
    address = healthy.view.home.public_address("ipv6")
    with healthy.zone_changed(
        healthy.domain, lambda z: z.replace(f"{healthy.mail_name}. 300 IN AAAA {address}\n", "")
    ):
        # Without it, the PTR of the IPv6 address no longer resolves back (FCrDNS) either.
        healthy.assert_only(
            "home",
            {f"dns AAAA {healthy.mail_name}": "fail", f"dns PTR {address}": "fail"},
            "home-mail-doctor records",
        )


def test_isp_address_in_the_zone(healthy: Doctor) -> None:
    """The mail name also resolves to home's ISP address (a dynamic-DNS habit): mail sent to it
    would bypass the gateway, and the ISP line has no PTR of the mail name."""
    isp = healthy.view.machine("home").address("ipv4")
    with healthy.zone_changed(healthy.domain, lambda z: z + f"{healthy.mail_name}. 300 IN A {isp}\n"):
        healthy.assert_only("home", {f"dns A {healthy.mail_name}": "fail"}, "no ISP address")


def test_wrong_ptr(healthy: Doctor) -> None:
    address = healthy.view.home.public_address("ipv4")
    zone = "100.51.198.in-addr.arpa"
    with healthy.zone_changed(zone, lambda z: z.replace(f"PTR {healthy.mail_name}.", "PTR mx.example.net.")):
        healthy.assert_only("home", {f"dns PTR {address}": "fail"}, f"PTR {address} -> {healthy.mail_name}.")


def _spf(doctor: Doctor, zone_text: str, new: str) -> str:
    old = re.search(r'"v=spf1 [^"]*"', zone_text)
    assert old, zone_text
    return zone_text.replace(old.group(0), f'"{new}"')


def test_spf_without_the_ipv6_address(healthy: Doctor) -> None:
    ipv4 = healthy.view.home.public_address("ipv4")
    ipv6 = healthy.view.home.public_address("ipv6")
    with healthy.zone_changed(healthy.domain, lambda z: _spf(healthy, z, f"v=spf1 ip4:{ipv4} -all")):
        healthy.assert_only("home", {f"dns SPF {healthy.domain}": "fail"}, f"ip6:{ipv6}")


def test_spf_authorizing_the_isp_address(healthy: Doctor) -> None:
    ipv4 = healthy.view.home.public_address("ipv4")
    ipv6 = healthy.view.home.public_address("ipv6")
    isp = healthy.view.machine("home").address("ipv4")
    text = f"v=spf1 ip4:{ipv4} ip6:{ipv6} ip4:{isp} -all"
    with healthy.zone_changed(healthy.domain, lambda z: _spf(healthy, z, text)):
        healthy.assert_only("home", {f"dns SPF {healthy.domain}": "fail"}, f"ip6:{ipv6} -all")


def test_spf_through_an_include_that_authorizes(healthy: Doctor) -> None:
    """pyspf follows include: (and a:): the policy passes, and nothing turns red."""
    ipv4 = healthy.view.home.public_address("ipv4")

    def via_include(zone: str) -> str:
        return _spf(healthy, zone, f"v=spf1 include:_spf.{healthy.domain} -all") + (
            f'_spf.{healthy.domain}. 300 IN TXT "v=spf1 ip4:{ipv4} a:{healthy.mail_name} -all"\n'
        )

    with healthy.zone_changed(healthy.domain, via_include):
        assert healthy.not_ok("home") == {}
        assert healthy.not_ok("gateway") == {}


def test_dkim_key_in_dns_differs(healthy: Doctor) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048).public_key()
    der = other.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    record = f'"v=DKIM1; k=rsa; p={base64.b64encode(der).decode()}"'
    selector = healthy.view.world["dkim"]["selector"]
    name = f"{selector}._domainkey.{healthy.domain}."

    def replace_key(zone: str) -> str:
        return re.sub(rf"^{re.escape(name)} 300 IN TXT .*$", f"{name} 300 IN TXT {record}", zone, flags=re.M)

    with healthy.zone_changed(healthy.domain, replace_key):
        healthy.assert_only("home", {f"dns DKIM {healthy.domain}": "fail"}, "home-mail-doctor records")


def test_no_dmarc(healthy: Doctor) -> None:
    with healthy.zone_changed(
        healthy.domain, lambda z: re.sub(rf"^_dmarc\.{re.escape(healthy.domain)}\. .*\n", "", z, flags=re.M)
    ):
        healthy.assert_only("home", {f"dns DMARC {healthy.domain}": "fail"}, f"_dmarc.{healthy.domain}.")


def test_mx_elsewhere(healthy: Doctor) -> None:
    with healthy.zone_changed(
        healthy.domain, lambda z: z.replace(f"MX 10 {healthy.mail_name}.", "MX 10 mx.example.net.")
    ):
        healthy.assert_only("home", {f"dns MX {healthy.domain}": "fail"}, f"MX 10 {healthy.mail_name}.")


@pytest.mark.parametrize(
    ("answer", "status", "fix"),
    [("127.0.0.2", "fail", "delisting"), ("127.255.255.254", "warn", "RBL checks are blind")],
)
def test_dnsbl(healthy: Doctor, answer: str, status: str, fix: str) -> None:
    """A listing fails; a refused query (Spamhaus' answer to public resolvers) warns."""
    address = healthy.view.home.public_address("ipv4")
    listed = ".".join(reversed(address.split("."))) + f".{healthy.dnsbl}"
    zone = "example.net"
    with healthy.zone_changed(zone, lambda z: z + f"{listed}. 300 IN A {answer}\n"):
        healthy.assert_only("home", {f"dnsbl {healthy.dnsbl} {address}": status}, fix)
