# Shared helpers of the scenario scripts.
#
# The scenarios run in two drivers: the NixOS test driver (tests/vm, real NixOS VMs) and the lab's
# driver (pkgs/mail-lab, network namespaces). Both provide the machines (`internet`, `gateway`,
# `home`, `remote`, `client`), `subtest`, `start_all` and `topology`: the JSON of
# tests/topology.nix. Everything here talks to machines only through the test-driver API and tools
# present on both sides (the mail test agent `mail-test-agent`, curl, iproute2, coreutils), so one
# script serves both.
#
# Both drivers run pkgs/mail-lab/src/mail_lab/mail/headers.py before this file: its
# `authentication_results`, `received_peers` and `header_values` are globals of every scenario.
import json
import shlex
import uuid
from typing import Any

WORLD = topology["world"]
machines_by_name: dict[str, Machine] = {
    "internet": internet,
    "gateway": gateway,
    "home": home,
    "remote": remote,
    "client": client,
}
HOME_PLAN = topology["plans"]["home"]
GATEWAY_PLAN = topology["plans"]["gateway"]

NAMESPACE = HOME_PLAN["namespace"]["name"]
WG_INTERFACE = HOME_PLAN["wireguard"]["interface"]
WIREGUARD_UNIT = HOME_PLAN["wireguardUnits"]["interface"]
PUBLIC_IPV4 = HOME_PLAN["addresses"]["ipv4"][0]
PUBLIC_IPV6 = HOME_PLAN["addresses"]["ipv6"][0]
PUBLIC_ADDRESSES = {"ipv4": PUBLIC_IPV4, "ipv6": PUBLIC_IPV6}

HOME_FQDN = WORLD["machines"]["home"]["fqdn"]
REMOTE_FQDN = WORLD["machines"]["remote"]["fqdn"]
REMOTE_ADDRESSES = {
    "ipv4": WORLD["machines"]["remote"]["ipv4"].split("/")[0],
    "ipv6": WORLD["machines"]["remote"]["ipv6"].split("/")[0],
}
HOME_ISP_ADDRESSES = {
    "ipv4": WORLD["machines"]["home"]["ipv4"].split("/")[0],
    "ipv6": WORLD["machines"]["home"]["ipv6"].split("/")[0],
}
ALICE = WORLD["accounts"]["home"]
BOB = WORLD["accounts"]["remote"]
PASSWORDS = WORLD["passwords"]
REMOTE_MAILDIR = WORLD["machines"]["remote"]["maildir"]
# The remote's other recipient domains, each with the address families of its MX host: a domain of
# one family makes home's postfix deliver over that family, without touching home's configuration.
REMOTE_DOMAINS: dict[str, dict[str, Any]] = WORLD["remoteDomains"]

MAIL_TIMEOUT = 120
# The lab's mail test agent (pkgs/mail-lab's mail.agent): on the PATH of the lab's machines and of
# the VM tests' nodes (the package pkgs/mail-test-agent).
MAIL_AGENT = "mail-test-agent"
# Units that must be running before mail can flow, per machine.
MAIL_UNITS = {
    "home": ["postfix.service", "dovecot.service", "rspamd.service", WIREGUARD_UNIT],
    "remote": ["postfix.service", "rspamd.service"],
    "gateway": [GATEWAY_PLAN["wireguardUnits"]["interface"]],
}


def wait_for_world() -> None:
    """Start every machine and wait until the mail path is up (cheap once it is)."""
    start_all()
    for machine_name, units in MAIL_UNITS.items():
        for unit in units:
            machines_by_name[machine_name].wait_for_unit(unit)
    # The tunnel carries traffic once the handshake is done: wait for a ping through it.
    remote.wait_until_succeeds(f"ping -c 1 -W 2 {PUBLIC_IPV4}", timeout=60)
    remote.wait_until_succeeds(f"ping -c 1 -W 2 {PUBLIC_IPV6}", timeout=60)


def remote_recipient(domain: str) -> str:
    """Bob's address in `domain`, one of the remote's domains."""
    return f"{BOB.split('@')[0]}@{domain}"


def in_namespace(command: str) -> str:
    """The shell command run inside home's confined namespace."""
    return f"ip netns exec {shlex.quote(NAMESPACE)} sh -c {shlex.quote(command)}"


def url_host(address: str) -> str:
    return f"[{address}]" if ":" in address else address


def new_message_id(tag: str) -> str:
    return f"<{tag}.{uuid.uuid4().hex}@scenario.test>"


def mail_agent(job: dict[str, Any]) -> str:
    """The shell command that runs the mail test agent with `job` (its result: one JSON object)."""
    return f"{MAIL_AGENT} {shlex.quote(json.dumps(job))}"


def run_mail_agent(machine: Machine, job: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(machine.succeed(mail_agent(job)).strip().splitlines()[-1])
    return result


def send_smtp(
    machine: Machine,
    *,
    address: str,
    sender: str,
    recipient: str,
    tag: str,
    helo: str,
    port: int = 25,
    login: str | None = None,
    tls_name: str | None = None,
) -> str:
    """Send one message from `machine` to `address`; returns its Message-ID.

    With `tls_name`, the connection is implicit TLS (port 465) verified against that name (with
    the machine's trust store, which holds the lab's or the test's CA); with `login`, it
    authenticates as that account.
    """
    message_id = new_message_id(tag)
    job = {
        "action": "send",
        "server": address,
        "port": port,
        "security": "tls" if tls_name is not None else "none",
        "tls_name": tls_name,
        "helo": helo,
        "login": {"user": login, "password": PASSWORDS[login]} if login else None,
        "sender": sender,
        "recipient": recipient,
        "subject": f"scenario {tag}",
        "body": f"Scenario message {message_id}\n",
        "message_id": message_id,
    }
    result = run_mail_agent(machine, job)
    assert result == {"accepted": True}, f"{address} port {port} refused the message: {result}"
    return message_id


def wait_for_maildir_message(
    machine: Machine, maildir: str, message_id: str, timeout: int = MAIL_TIMEOUT
) -> str:
    """Wait until a message with `message_id` is in `maildir` on `machine`; return its text."""
    find = (
        f"grep -rlF -- {shlex.quote(message_id)} {shlex.quote(maildir)}new {shlex.quote(maildir)}cur"
        " | head -n 1"
    )
    machine.wait_until_succeeds(f'test -n "$({find})"', timeout=timeout)
    return machine.succeed(f'cat "$({find})"')


def imap_fetch(
    machine: Machine, *, address: str, account: str, message_id: str, timeout: int = MAIL_TIMEOUT
) -> str:
    """Read the message with `message_id` over IMAPS from home's public `address`, TLS verified."""
    job = {
        "action": "imap_fetch",
        "server": address,
        "port": 993,
        "tls_name": HOME_FQDN,
        "user": account,
        "password": PASSWORDS[account],
        "message_id": message_id,
    }
    machine.wait_until_succeeds(f"{mail_agent(job)} | grep -qF '\"found\": true'", timeout=timeout)
    return str(run_mail_agent(machine, job)["message"])


def namespace_inode(machine: Machine, pid: str) -> str:
    return machine.succeed(f"readlink /proc/{pid}/ns/net").strip()


def main_pid(machine: Machine, unit: str) -> str:
    pid = machine.succeed(f"systemctl show --property MainPID --value {shlex.quote(unit)}").strip()
    assert pid not in ("", "0"), f"{unit} has no main process"
    return pid


# home-mail-doctor (pkgs/home-mail-doctor), on PATH of the gateway and home: the lab installs it
# as the modules do. A healthy report is exit 0: every check ok, or skipped with its reason (a
# oneshot unit that is not running, no DKIM key on the gateway).
DOCTOR_COMMAND = "home-mail-doctor"
# Right after boot the gateway saves the endpoint it learned only every saveInterval seconds; until
# then the doctor rightly calls the saved file stale.
DOCTOR_SETTLE_SECONDS = 3 * int(GATEWAY_PLAN["endpointMemory"]["saveInterval"])
DOCTOR_RETRY_SECONDS = 5


def doctor_report(machine: Machine) -> dict[str, Any]:
    code, output = machine.execute(f"{DOCTOR_COMMAND} --json", timeout=120)
    report: dict[str, Any] = json.loads(output)
    assert report["exitCode"] == code, f"{DOCTOR_COMMAND} exited {code}, its report says {report['exitCode']}"
    return report


def assert_doctor_all_ok() -> None:
    """home-mail-doctor on the gateway and on home holds each against its plan: all ok."""
    for machine in (gateway, home):
        with subtest(f"home-mail-doctor on {machine.name}: every check ok"):
            report = doctor_report(machine)
            for _ in range(DOCTOR_SETTLE_SECONDS // DOCTOR_RETRY_SECONDS):
                if report["exitCode"] == 0:
                    break
                machine.sleep(DOCTOR_RETRY_SECONDS)
                report = doctor_report(machine)
            not_ok = {
                check["name"]: f"{check['status']}: {check['saw']} (fix: {check['fix']})"
                for check in report["checks"]
                if check["status"] not in ("ok", "skipped")
            }
            assert not_ok == {} and report["exitCode"] == 0, json.dumps(not_ok, indent=1)
