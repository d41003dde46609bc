"""ACME in the lab: the internet's certificate authority (pebble) and home's order (lego).

On `internet`, `pebble.service` is the ACME server of the virtual internet: RFC 8555 at
`https://<acme name>:<port>/dir` (a lab-CA certificate, so every lab machine trusts it), and it
validates HTTP-01 challenges for real, on port 80 of the names it resolves through the lab's name
server. Every order is validated (no authorization reuse) and without pebble's random sleeps.

On `home`, `acme-order-renew-<cert>.service` is what NixOS 26.05 runs for
`security.acme.certs.<cert>.listenHTTP = ":80"`: lego's own HTTP server answers the challenge,
then the files are installed where NixOS puts them (`/var/lib/acme/<cert>/{cert,key,fullchain,
chain,full}.pem`). The unit has no namespace settings: the home plan's moveNs puts it in `wg`, so
pebble's HTTP-01 request reaches it only through the gateway and the tunnel.

Lab differences to NixOS: lego runs as root (no `acme` user on Debian), there is no concurrency
lock, no minica placeholder (`acme-<cert>.service`) and no domain-hash bookkeeping, and lego's
state (account and certificates) lives in `/var/lib/acme/.lego/<cert>/` alone, where NixOS keeps
the account in `/var/lib/acme/.lego/accounts/<hash>/`.
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass
from typing import Any

from mail_lab.lab.topology import TopologyView
from mail_lab.services import dns, kresd
from mail_lab.services.machine import MailMachine
from mail_lab.services.tls import LabCA, TlsFiles
from mail_lab.units.unit import Unit

PEBBLE_UNIT = "pebble.service"
PEBBLE_CONFIG = "/etc/pebble/pebble.json"
PEBBLE_TLS = TlsFiles(certificate="/etc/pebble/tls/server.pem", key="/etc/pebble/tls/server.key")
PEBBLE_ENVIRONMENT = {
    # No random 0-15 s sleep before each validation.
    "PEBBLE_VA_NOSLEEP": "1",
    # Validate every order: a reused authorization would skip the HTTP-01 request entirely.
    "PEBBLE_AUTHZREUSE": "0",
}
ACME_STATE = "/var/lib/acme"
DNS_PORT = 53
HTTP_CHALLENGE_PORT = 80
# Pebble's TLS-ALPN-01 port; lego is not offered that solver here, pebble only needs a number.
TLS_CHALLENGE_PORT = 443
# Exit codes of NixOS's order script: a failed first order, a failed renewal of an expiring cert.
EXIT_ORDER_FAILED = 10
EXIT_RENEWAL_FAILED = 11


@dataclass(frozen=True)
class AcmeServer:
    """Where the internet's ACME server answers: `world.internet.acme` of tests/topology.nix."""

    name: str
    ipv4: str
    port: int
    management_port: int

    @property
    def directory_url(self) -> str:
        return f"https://{self.name}:{self.port}/dir"

    @classmethod
    def from_topology(cls, topology: dict[str, Any]) -> AcmeServer:
        internet = topology["world"]["internet"]
        if "acme" not in internet:
            raise KeyError(
                "tests/topology.nix: world.internet.acme is missing; add "
                '{ name = "acme.example.net"; ipv4 = "192.0.2.54"; port = 14000; managementPort = 15000; }'
            )
        acme = internet["acme"]
        return cls(
            name=acme["name"],
            ipv4=acme["ipv4"],
            port=int(acme["port"]),
            management_port=int(acme["managementPort"]),
        )


def pebble_config(server: AcmeServer, tls: TlsFiles) -> str:
    """pebble's `-config` file: the ACME API and management API on the server's address."""
    return json.dumps(
        {
            "pebble": {
                "listenAddress": f"{server.ipv4}:{server.port}",
                "managementListenAddress": f"{server.ipv4}:{server.management_port}",
                "certificate": tls.certificate,
                "privateKey": tls.key,
                "httpPort": HTTP_CHALLENGE_PORT,
                "tlsPort": TLS_CHALLENGE_PORT,
                "ocspResponderURL": "",
                "externalAccountBindingRequired": False,
            }
        },
        indent=2,
    )


def pebble_argv(config: str, name_server: str) -> list[str]:
    return ["pebble", "-config", config, "-dnsserver", f"{name_server}:{DNS_PORT}"]


def pebble_ready_command(server: AcmeServer) -> str:
    """True once the directory answers over verified TLS (the machine trusts the lab CA)."""
    resolve = shlex.quote(f"{server.name}:{server.port}:{server.ipv4}")
    return (
        f"curl --silent --fail --max-time 2 --output /dev/null --resolve {resolve} "
        f"{shlex.quote(server.directory_url)}"
    )


def pebble_unit(machine: MailMachine, topology: dict[str, Any], ca: LabCA) -> Unit:
    server = AcmeServer.from_topology(topology)
    PEBBLE_TLS.install(machine, ca.issue([server.name]))
    machine.write_file(PEBBLE_CONFIG, pebble_config(server, PEBBLE_TLS))
    name_server = topology["world"]["internet"]["dns"]["ipv4"]
    return Unit(
        name=PEBBLE_UNIT,
        type="simple",
        exec_start=[pebble_argv(PEBBLE_CONFIG, name_server)],
        environment=dict(PEBBLE_ENVIRONMENT),
        # Pebble resolves the names it validates through the lab's authoritative server, but only
        # when it validates: it starts beside knot, and the internet is up when both are.
        wants=[dns.UNIT_NAME],
        ready=pebble_ready_command(server),
    )


@dataclass(frozen=True)
class CertificateOrder:
    """One `security.acme.certs.<domain>` with `listenHTTP`, as NixOS's order unit runs it."""

    domain: str
    email: str
    server_url: str
    listen_http: str = f":{HTTP_CHALLENGE_PORT}"
    key_type: str = "ec256"  # security.acme.defaults.keyType
    valid_min_days: int = 30  # security.acme.defaults.validMinDays
    state_root: str = ACME_STATE

    @property
    def unit_name(self) -> str:
        return f"acme-order-renew-{self.domain}.service"

    @property
    def directory(self) -> str:
        """Where the installed files are: security.acme.certs.<domain>.directory."""
        return f"{self.state_root}/{self.domain}"

    @property
    def lego_path(self) -> str:
        """lego's `--path`: its account and the certificates it obtained."""
        return f"{self.state_root}/.lego/{self.domain}"

    @property
    def key_name(self) -> str:
        # lego writes `*` of a wildcard domain as `_` in file names.
        return self.domain.replace("*", "_")

    def common_arguments(self) -> list[str]:
        """NixOS's `commonOpts` for a listenHTTP certificate, without a CSR or extra domains."""
        return [
            "--accept-tos",
            "--path",
            ".",
            "--email",
            self.email,
            "--http",
            "--http.port",
            self.listen_http,
            "--server",
            self.server_url,
            "--key-type",
            self.key_type,
            "-d",
            self.domain,
        ]

    def run_argv(self) -> list[str]:
        return ["lego", *self.common_arguments(), "run"]

    def renew_argv(self) -> list[str]:
        return [
            "lego",
            *self.common_arguments(),
            "renew",
            "--no-random-sleep",
            "--days",
            str(self.valid_min_days),
        ]

    def script(self) -> str:
        """The order-or-renew script: NixOS's decision and file layout, in POSIX sh."""
        out, crt = shlex.quote(self.directory), f"certificates/{shlex.quote(self.key_name)}"
        run, renew = shlex.join(self.run_argv()), shlex.join(self.renew_argv())
        min_seconds = self.valid_min_days * 24 * 3600
        return f"""set -eu
umask 0027
mkdir -p {out} {shlex.quote(self.lego_path)}
cd {shlex.quote(self.lego_path)}
if [ -e {crt}.crt ] && [ -e {crt}.key ]; then
  # Renews only when fewer than {self.valid_min_days} days are left; a failure is fatal only then.
  if ! {renew}; then
    if [ -e {out}/fullchain.pem ] && openssl x509 -checkend {min_seconds} -noout -in {out}/fullchain.pem; then
      echo "Ignoring the failed renewal: valid for more than {self.valid_min_days} days" >&2
    else
      exit {EXIT_RENEWAL_FAILED}
    fi
  fi
elif ! {run}; then
  echo "Failed to fetch a certificate for {self.domain} from {self.server_url}" >&2
  exit {EXIT_ORDER_FAILED}
fi
touch {out}/acme-success
if ! cmp -s {crt}.crt {out}/fullchain.pem; then
  touch {out}/renewed
  echo "Installing the new certificate"
  cp {crt}.crt {out}/fullchain.pem
  cp {crt}.key {out}/key.pem
  cp {crt}.issuer.crt {out}/chain.pem
  ln -sf fullchain.pem {out}/cert.pem
  cat {out}/key.pem {out}/fullchain.pem > {out}/full.pem
fi
chmod -R u=rwX,g=rX,o= {out} certificates
chmod -R u=rwX,g=,o= accounts
"""

    def argv(self) -> list[str]:
        return ["sh", "-c", self.script()]


def home_certificate_order(topology: dict[str, Any]) -> CertificateOrder:
    """The order for home's public mail name (the MX name the internet connects to)."""
    view = TopologyView(topology)
    return CertificateOrder(
        domain=view.machine("home").fqdn,
        email=f"postmaster@{view.domain('home')}",
        server_url=AcmeServer.from_topology(topology).directory_url,
    )


def order_renew_unit(order: CertificateOrder, wireguard_unit: str) -> Unit:
    return Unit(
        name=order.unit_name,
        type="oneshot",
        exec_start=[order.argv()],
        # The tunnel carries the order and the challenge; kresd (inside `wg`) resolves the names.
        # moveNs adds the namespace, netns@ and wireguard dependencies on top.
        after=[wireguard_unit, kresd.UNIT_NAME],
        start_at_boot=False,
    )


def acme_units(machine: MailMachine, topology: dict[str, Any], ca: LabCA) -> list[Unit]:
    """Write `machine`'s ACME files and return its ACME units (none for most machines)."""
    if machine.name == "internet":
        return [pebble_unit(machine, topology, ca)]
    if machine.name == "home":
        interface_unit = TopologyView(topology).home.interface_unit
        return [order_renew_unit(home_certificate_order(topology), interface_unit)]
    return []
