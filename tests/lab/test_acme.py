"""ACME in the lab: pebble and home's lego order (mail_lab.services.acme).

The first tests need nothing. The standalone test needs root: it rebuilds the path by hand in two
throwaway namespaces (`mlc-acme-inet` with the name server and pebble, `mlc-acme-home` with lego
on the public address) and runs the very config, command and order script that the lab's units
run, so a certificate is really ordered and validated over HTTP-01.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization

from mail_lab.polling import retry
from mail_lab.services import acme
from mail_lab.services.tls import LabCA, TlsFiles

PREFIX = "mlc-"
INTERNET_NS = f"{PREFIX}acme-inet"
HOME_NS = f"{PREFIX}acme-home"
SERVER = acme.AcmeServer(name="acme.example.net", ipv4="192.0.2.54", port=14000, management_port=15000)
NAME_SERVER = "192.0.2.53"
ROUTER = "192.0.2.1"
PUBLIC_ADDRESS = "198.51.100.11"
DOMAIN = "mail.example.org"
TOPOLOGY_ACME = {"name": SERVER.name, "ipv4": SERVER.ipv4, "port": 14000, "managementPort": 15000}


def topology() -> dict[str, object]:
    """The parts of tests/topology.nix the ACME units read."""
    return {
        "world": {
            "domains": {"home": "example.org"},
            "internet": {"dns": {"ipv4": NAME_SERVER}, "acme": TOPOLOGY_ACME},
            "machines": {
                "home": {
                    "fqdn": DOMAIN,
                    "interface": "eth0",
                    "ipv4": "203.0.113.20/24",
                    "ipv6": "2001:db8:2::20/64",
                }
            },
        },
        "plans": {"home": {"wireguardUnits": {"interface": "wireguard-wg0.service"}}},
    }


# --- no root needed ----------------------------------------------------------------------------


def test_pebble_serves_on_the_acme_address_and_validates_on_port_80() -> None:
    tls = TlsFiles(certificate="/c.pem", key="/k.pem")
    config = json.loads(acme.pebble_config(SERVER, tls))["pebble"]
    assert config["listenAddress"] == "192.0.2.54:14000"
    assert config["managementListenAddress"] == "192.0.2.54:15000"
    assert (config["certificate"], config["privateKey"]) == ("/c.pem", "/k.pem")
    assert config["httpPort"] == 80
    assert acme.pebble_argv("/etc/pebble/pebble.json", NAME_SERVER)[-2:] == ["-dnsserver", "192.0.2.53:53"]
    assert "PEBBLE_VA_ALWAYS_VALID" not in acme.PEBBLE_ENVIRONMENT


def test_lego_is_called_as_nixos_calls_it_for_listen_http() -> None:
    order = acme.home_certificate_order(topology())
    assert order.unit_name == "acme-order-renew-mail.example.org.service"
    assert order.directory == "/var/lib/acme/mail.example.org"
    common = [
        "--accept-tos",
        "--path",
        ".",
        "--email",
        "postmaster@example.org",
        "--http",
        "--http.port",
        ":80",
        "--server",
        "https://acme.example.net:14000/dir",
        "--key-type",
        "ec256",
        "-d",
        DOMAIN,
    ]
    assert order.run_argv() == ["lego", *common, "run"]
    assert order.renew_argv() == ["lego", *common, "renew", "--no-random-sleep", "--days", "30"]


def test_order_script_is_valid_sh() -> None:
    script = acme.home_certificate_order(topology()).script()
    result = subprocess.run(["sh", "-n", "-c", script], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr


def test_missing_acme_entry_in_the_topology_says_what_to_add() -> None:
    broken = topology()
    world = broken["world"]
    assert isinstance(world, dict)
    del world["internet"]["acme"]
    with pytest.raises(KeyError, match=r"world\.internet\.acme"):
        acme.AcmeServer.from_topology(broken)


@dataclass
class RecordingMachine:
    """A machine that keeps the files written into it."""

    name: str
    state_dir: Path
    files: dict[str, bytes] = field(default_factory=dict)

    def write_file(self, path: str, content: str | bytes, *_options: object, **_named: object) -> None:
        """MailMachine.write_file; mode and ownership are not what these tests look at."""
        self.files[path] = content.encode() if isinstance(content, str) else content

    def succeed(self, command: str, /, *, timeout: int | None = None) -> str:
        raise AssertionError(f"the ACME units run nothing while they are configured: {command}")

    def execute(self, command: str) -> tuple[int, str]:
        raise AssertionError(f"the ACME units run nothing while they are configured: {command}")


def test_units_per_machine(tmp_path: Path) -> None:
    ca = LabCA.create(tmp_path)
    internet = RecordingMachine("internet", tmp_path)
    (pebble,) = acme.acme_units(internet, topology(), ca)
    assert pebble.name == "pebble.service"
    assert pebble.type == "simple"
    certificate = x509.load_pem_x509_certificates(internet.files[acme.PEBBLE_TLS.certificate])[0]
    names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["acme.example.net"]
    assert json.loads(internet.files[acme.PEBBLE_CONFIG])["pebble"]["httpPort"] == 80

    home = RecordingMachine("home", tmp_path)
    (order,) = acme.acme_units(home, topology(), ca)
    assert order.name == "acme-order-renew-mail.example.org.service"
    assert order.type == "oneshot"
    assert order.network_namespace_path is None, "moveNs of the home plan confines it, not the unit"
    assert {"wireguard-wg0.service", "kresd@1.service"} <= set(order.after)
    for name in ("gateway", "remote", "client"):
        assert acme.acme_units(RecordingMachine(name, tmp_path), topology(), ca) == []


# --- the path by hand, in throwaway namespaces (root) --------------------------------------------


def run(*argv: str, stdin: str | None = None, timeout: float = 30) -> str:
    result = subprocess.run(argv, input=stdin, capture_output=True, text=True, check=False, timeout=timeout)
    assert result.returncode == 0, f"{argv}: {result.stdout}{result.stderr}"
    return result.stdout


def in_ns(namespace: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", namespace, *argv]


def remove_namespaces() -> None:
    for namespace in (INTERNET_NS, HOME_NS):
        subprocess.run(["ip", "netns", "del", namespace], capture_output=True, check=False)
        shutil.rmtree(f"/etc/netns/{namespace}", ignore_errors=True)


def wait_for(command: list[str], timeout: float = 20, env: dict[str, str] | None = None) -> None:
    retry(
        lambda: subprocess.run(command, capture_output=True, check=False, env=env).returncode == 0,
        timeout,
        0.2,
        f"{command} to succeed",
    )


ZONES = {
    "example.org": [f"mail.example.org. 300 IN A {PUBLIC_ADDRESS}"],
    "example.net": [f"ns.example.net. 300 IN A {NAME_SERVER}", f"{SERVER.name}. 300 IN A {SERVER.ipv4}"],
}


def write_name_server(directory: Path) -> Path:
    """A knot serving the two zones the path needs; returns its configuration file."""
    (directory / "zones").mkdir(parents=True)
    for zone, records in ZONES.items():
        head = [
            f"{zone}. 300 IN SOA ns.example.net. hostmaster.example.net. 1 3600 600 86400 300",
            f"{zone}. 300 IN NS ns.example.net.",
        ]
        (directory / "zones" / f"{zone}.zone").write_text("\n".join(head + records) + "\n")
    config = directory / "knot.conf"
    zones = "".join(f'  - domain: "{zone}"\n' for zone in ZONES)
    config.write_text(
        f'server:\n    rundir: "{directory}"\n    listen: [ "{NAME_SERVER}@53" ]\n'
        f'database:\n    storage: "{directory}/db"\n'
        f'template:\n  - id: "default"\n    storage: "{directory}/zones"\n    file: "%s.zone"\n'
        '    zonefile-sync: -1\n    journal-content: "none"\n'
        f"zone:\n{zones}"
    )
    return config


@dataclass
class Path01:
    """The standalone world: its state, its CA and pebble's process (restartable)."""

    root: Path
    ca: LabCA
    processes: list[subprocess.Popen[bytes]]
    pebble: subprocess.Popen[bytes] | None = None

    def start_pebble(self) -> None:
        tls = TlsFiles(certificate=str(self.root / "pebble.pem"), key=str(self.root / "pebble.key"))
        credentials = self.ca.issue([SERVER.name])
        Path(tls.certificate).write_bytes(credentials.certificate_chain)
        Path(tls.key).write_bytes(credentials.private_key)
        config = self.root / "pebble.json"
        config.write_text(acme.pebble_config(SERVER, tls))
        log = (self.root / "pebble.log").open("ab")
        self.pebble = subprocess.Popen(
            in_ns(INTERNET_NS, *acme.pebble_argv(str(config), NAME_SERVER)),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **acme.PEBBLE_ENVIRONMENT},
        )
        self.processes.append(self.pebble)
        # The lab's machines trust the lab CA system-wide; here curl is told about it.
        trust = {**os.environ, "CURL_CA_BUNDLE": str(self.ca_file)}
        wait_for(in_ns(HOME_NS, "sh", "-c", acme.pebble_ready_command(SERVER)), env=trust)

    def stop_pebble(self) -> None:
        assert self.pebble is not None
        self.pebble.terminate()
        self.pebble.wait(timeout=10)

    def curl_management(self, path: str) -> str:
        url = f"https://{SERVER.name}:{SERVER.management_port}{path}"
        return run(*in_ns(HOME_NS, "curl", "--silent", "--fail", "--cacert", str(self.ca_file), url))

    @property
    def ca_file(self) -> Path:
        return self.root / "state" / "tls" / "ca.pem"


@pytest.fixture
def path01(tmp_path: Path) -> Iterator[Path01]:
    if os.geteuid() != 0:
        pytest.skip("needs root: builds network namespaces")
    missing = [tool for tool in ("pebble", "lego", "knotd", "nft", "curl") if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"missing Debian packages' tools: {missing}")
    remove_namespaces()
    world = Path01(root=tmp_path, ca=LabCA.create(tmp_path / "state"), processes=[])
    try:
        for namespace in (INTERNET_NS, HOME_NS):
            run("ip", "netns", "add", namespace)
            run("ip", "-n", namespace, "link", "set", "lo", "up")
        # One link: the internet router (name server, ACME server) and home's public address.
        run("ip", "-n", INTERNET_NS, "link", "add", "home", "type", "veth", "peer", "eth0", "netns", HOME_NS)
        for address in (f"{NAME_SERVER}/32", f"{SERVER.ipv4}/32"):
            run("ip", "-n", INTERNET_NS, "address", "add", address, "dev", "lo")
        run("ip", "-n", INTERNET_NS, "address", "add", f"{ROUTER}/24", "dev", "home")
        run("ip", "-n", INTERNET_NS, "link", "set", "home", "up")
        run("ip", "-n", INTERNET_NS, "route", "add", f"{PUBLIC_ADDRESS}/32", "dev", "home")
        run("ip", "-n", HOME_NS, "address", "add", f"{PUBLIC_ADDRESS}/32", "dev", "eth0")
        run("ip", "-n", HOME_NS, "link", "set", "eth0", "up")
        run("ip", "-n", HOME_NS, "route", "add", "default", "via", ROUTER, "dev", "eth0", "onlink")
        Path(f"/etc/netns/{HOME_NS}").mkdir(parents=True, exist_ok=True)
        Path(f"/etc/netns/{HOME_NS}/resolv.conf").write_text(f"nameserver {NAME_SERVER}\n")
        knot = write_name_server(tmp_path / "knot")
        world.processes.append(
            subprocess.Popen(
                in_ns(INTERNET_NS, "knotd", "--config", str(knot)),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        wait_for(in_ns(HOME_NS, "kdig", "+short", "+timeout=1", f"@{NAME_SERVER}", "A", SERVER.name))
        world.start_pebble()
        yield world
    finally:
        for process in world.processes:
            if process.poll() is None:
                process.terminate()
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(timeout=10)
        remove_namespaces()


PROBE = f"""table inet {PREFIX.replace("-", "_")}acme_probe {{
  chain input {{
    type filter hook input priority -200; policy accept;
    iifname "eth0" tcp dport 80 counter
  }}
}}
"""


def order(world: Path01, certificate: acme.CertificateOrder) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        in_ns(HOME_NS, *certificate.argv()),
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
        # lego trusts the ACME server's lab-CA certificate through this (the lab puts it in the bundle).
        env={**os.environ, "LEGO_CA_CERTIFICATES": str(world.ca_file)},
    )


def probe_packets() -> int:
    ruleset = run(*in_ns(HOME_NS, "nft", "list", "ruleset"))
    return sum(int(n) for n in re.findall(r"counter packets (\d+)", ruleset))


@pytest.mark.lab
@pytest.mark.slow
def test_order_validates_over_http01_and_installs_nixos_layout(path01: Path01, tmp_path: Path) -> None:
    certificate = acme.CertificateOrder(
        domain=DOMAIN,
        email="postmaster@example.org",
        server_url=SERVER.directory_url,
        state_root=str(tmp_path / "acme"),
    )
    run(*in_ns(HOME_NS, "nft", "-f", "-"), stdin=PROBE)

    first = order(path01, certificate)
    assert first.returncode == 0, first.stdout + first.stderr
    assert probe_packets() > 0, "no HTTP-01 request reached port 80 of the public address"
    assert (
        "Attempting to validate w/ HTTP: http://mail.example.org:80/"
        in (path01.root / "pebble.log").read_text()
    )

    out = Path(certificate.directory)
    assert os.readlink(out / "cert.pem") == "fullchain.pem"
    leaf = x509.load_pem_x509_certificate((out / "cert.pem").read_bytes())
    names = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == [DOMAIN]
    assert leaf.issuer.rfc4514_string().startswith("CN=Pebble Intermediate CA")
    key = serialization.load_pem_private_key((out / "key.pem").read_bytes(), password=None)
    assert key.public_key() == leaf.public_key()
    assert (out / "full.pem").read_bytes() == (out / "key.pem").read_bytes() + (
        out / "fullchain.pem"
    ).read_bytes()
    assert (out / "acme-success").exists()

    # Pebble's own records: the chain goes up to its root, and it knows this serial as valid.
    root = tmp_path / "pebble-root.pem"
    root.write_text(path01.curl_management("/roots/0"))
    run(
        "openssl", "verify", "-CAfile", str(root), "-untrusted", str(out / "chain.pem"), str(out / "cert.pem")
    )
    status = json.loads(path01.curl_management(f"/cert-status-by-serial/{leaf.serial_number:x}"))
    assert status["Status"] == "Valid"
    assert x509.load_pem_x509_certificate(status["Certificate"].encode()) == leaf

    # A second start renews nothing: the certificate is valid for years.
    (out / "renewed").unlink()
    second = order(path01, certificate)
    assert second.returncode == 0, second.stdout + second.stderr
    assert x509.load_pem_x509_certificate((out / "cert.pem").read_bytes()) == leaf
    assert not (out / "renewed").exists()

    # Without the ACME server, a first order fails as NixOS's does (exit 10), files untouched.
    path01.stop_pebble()
    shutil.rmtree(certificate.lego_path)
    failed = order(path01, certificate)
    assert failed.returncode == acme.EXIT_ORDER_FAILED, failed.stdout + failed.stderr
    assert x509.load_pem_x509_certificate((out / "cert.pem").read_bytes()) == leaf
