"""The flake: its outputs (evaluated with stand-in inputs) and its lock file (checked by Nix offline).

nixpkgs 26.05 cannot be evaluated by this machine's Nix, so `outputs` is called with stand-ins
(tests/nix/stubs/flake-inputs.nix): nixpkgs' real `lib`, a `nixosSystem` that evaluates a host
against the stand-in NixOS options, and fake packages that record their arguments. That is enough
to check every output's names, the VM tests' scripts and machines, and the example hosts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from nixeval import REPO, eval_json, needs_nix, needs_nixpkgs_lib, nix_string

SYSTEMS = ["aarch64-linux", "x86_64-linux"]
OUTPUTS = """(let
  inputs = import ./tests/nix/stubs/flake-inputs.nix;
  self = (import ./flake.nix).outputs (inputs // { inherit self; });
in self)"""
# The test world the VM tests run: tests/topology.nix with the VM's uplink name (tests/vm/world.nix).
VM_TOPOLOGY = '(import ./tests/topology.nix { overrides.gateway.uplink.interface = "eth1"; })'
SCENARIOS = REPO / "tests" / "scenarios"
DAEMON_LOG_RULES = REPO / "pkgs" / "mail-lab" / "src" / "mail_lab" / "lab" / "daemon_logs.py"
MAIL_HEADERS = REPO / "pkgs" / "mail-lab" / "src" / "mail_lab" / "mail" / "headers.py"
MAIL_AGENT = MAIL_HEADERS.with_name("agent.py")
SCENARIO_NAMES = sorted(path.stem for path in SCENARIOS.glob("*.py") if path.name != "common.py")
CHEAP_CHECKS = {"plans", "example-hosts", "mail-lab"}
EXAMPLE_BUILDS = {"example-gateway", "example-home", "example-home-plain"}
# The VM test of the home without simple-nixos-mailserver and the scenarios it runs.
PLAIN_SCENARIOS = ["inbound", "outbound"]


def outputs(attribute: str) -> Any:
    return eval_json(f"{OUTPUTS}.{attribute}")


def attribute_names(attribute: str) -> list[str]:
    path = f"{OUTPUTS}.{attribute}" if attribute else OUTPUTS
    names: list[str] = eval_json(f"builtins.attrNames {path}")
    return names


def failing_messages(attribute: str) -> list[str]:
    messages: list[str] = eval_json(
        f"map (a: a.message) (builtins.filter (a: !a.assertion) {OUTPUTS}.{attribute}.config.assertions)"
    )
    return messages


# --- outputs --------------------------------------------------------------------------------------


@needs_nixpkgs_lib
def test_the_outputs_are_the_documented_ones() -> None:
    assert attribute_names("") == [
        "apps",
        "checks",
        "devShells",
        "formatter",
        "lib",
        "nixosConfigurations",
        "nixosModules",
        "packages",
    ]
    for output in ("apps", "checks", "devShells", "formatter", "packages"):
        assert attribute_names(output) == SYSTEMS, output
    assert attribute_names("nixosModules") == ["default", "mail-home", "netns", "wireguard-gateway"]
    assert attribute_names("nixosConfigurations") == ["gateway", "home", "home-plain"]
    for system in SYSTEMS:
        assert attribute_names(f"packages.{system}") == ["home-mail-doctor", "mail-lab", "mail-test-agent"]
        assert attribute_names(f"apps.{system}") == ["home-mail-doctor"]
        assert outputs(f"apps.{system}.home-mail-doctor.program").endswith(
            "-home-mail-doctor/bin/home-mail-doctor"
        )
        assert attribute_names(f"devShells.{system}") == ["default"]
        assert outputs(f"formatter.{system}.name") == "nixfmt-tree"


@needs_nixpkgs_lib
def test_the_lib_output_is_the_core() -> None:
    assert attribute_names("lib") == eval_json("builtins.attrNames (import ./lib)")
    confined = '{ namespace = "wg"; after = [ "wireguard-wg0.service" ]; }'
    assert outputs(f"lib.moveNs {confined}") == eval_json(f"(import ./lib).moveNs {confined}")


@needs_nixpkgs_lib
def test_the_modules_are_the_module_files() -> None:
    for name, path in [
        ("netns", "modules/netns.nix"),
        ("wireguard-gateway", "modules/wireguard-gateway.nix"),
        ("mail-home", "modules/mail-home"),
    ]:
        assert eval_json(f"toString {OUTPUTS}.nixosModules.{name}") == str(REPO / path)
    assert eval_json(f"map toString {OUTPUTS}.nixosModules.default.imports") == [
        str(REPO / "modules/wireguard-gateway.nix"),
        str(REPO / "modules/mail-home"),
    ]


@needs_nixpkgs_lib
def test_there_is_one_vm_test_per_scenario_and_the_cheap_checks() -> None:
    assert SCENARIO_NAMES, "tests/scenarios has no scenario"
    vm_tests = {f"vm-{name}" for name in SCENARIO_NAMES} | {"vm-plain"}
    assert set(attribute_names("checks.x86_64-linux")) == vm_tests | CHEAP_CHECKS | EXAMPLE_BUILDS
    # The example hosts are x86_64 machines: only that system builds them.
    assert set(attribute_names("checks.aarch64-linux")) == vm_tests | CHEAP_CHECKS


def vm_script_tail(scenarios: list[str]) -> str:
    """A VM test's script after its prelude: the scripts the lab's driver runs first too
    (mail_lab.driver.SHARED_SCRIPTS), the daemon log rules, common.py; the scenarios; then the
    check of the daemons' journals."""
    shared = [MAIL_HEADERS, DAEMON_LOG_RULES, SCENARIOS / "common.py"]
    return (
        "".join(path.read_text() + "\n" for path in shared)
        + "\n".join((SCENARIOS / f"{name}.py").read_text() for name in scenarios)
        + "\n"
        + (REPO / "tests" / "vm" / "daemon_logs.py").read_text()
    )


@needs_nixpkgs_lib
@pytest.mark.parametrize("scenario", SCENARIO_NAMES)
def test_a_vm_test_runs_the_shared_scenario_on_the_test_world(scenario: str) -> None:
    arguments = f"checks.x86_64-linux.{nix_string('vm-' + scenario)}.testArguments"
    assert outputs(f"{arguments}.name") == f"home-mail-{scenario}"
    assert attribute_names(f"{arguments}.nodes") == ["client", "gateway", "home", "internet", "remote"]
    script: str = outputs(f"{arguments}.testScript")
    tail = vm_script_tail([scenario])
    assert script.endswith(tail)
    prelude = script[: -len(tail)]
    # The prelude defines `topology`: exactly the test world's JSON.
    namespace: dict[str, Any] = {}
    exec(compile(prelude, "prelude", "exec"), namespace)
    assert namespace["topology"] == eval_json(VM_TOPOLOGY)


@needs_nixpkgs_lib
def test_vm_plain_runs_inbound_and_outbound_against_the_home_without_simple_nixos_mailserver() -> None:
    arguments = "checks.x86_64-linux.vm-plain.testArguments"
    assert outputs(f"{arguments}.name") == "home-mail-plain"
    assert attribute_names(f"{arguments}.nodes") == ["client", "gateway", "home", "internet", "remote"]
    assert eval_json(f"toString {OUTPUTS}.{arguments}.nodes.home") == str(
        REPO / "tests/vm/nodes/home-plain.nix"
    )
    script: str = outputs(f"{arguments}.testScript")
    assert script.endswith(vm_script_tail(PLAIN_SCENARIOS))


@needs_nixpkgs_lib
def test_the_vm_plain_home_runs_the_plan_with_nixos_own_mail_services() -> None:
    assert vm_node("home-plain", "homeMail.home.plan.wireguard") == eval_json(
        f"{VM_TOPOLOGY}.plans.home.wireguard"
    )
    assertions = f"({vm_node_expression('home-plain')}).assertions"
    assert eval_json(f"map (a: a.message) (builtins.filter (a: !a.assertion) {assertions})") == []
    assert vm_node("home-plain", "warnings") == []
    assert vm_node("home-plain", "homeMail.home.confinedServices") == [
        "postfix",
        "dovecot",
        "kresd@1",
        "acme-order-renew-mail.example.org",
    ]
    settings = vm_node("home-plain", "services.dovecot2.settings")
    assert settings["ssl_server_cert_file"].endswith("-mail.example.org.pem")
    assert "sieve_script home_mail_drop_duplicates" in settings
    assert settings["protocol lmtp"]["mail_plugins"]["sieve"] is True
    rules = vm_node("home-plain", "systemd.tmpfiles.rules")
    assert any(rule.startswith("C /var/lib/rspamd/dkim/example.org.mail.key ") for rule in rules), rules


@needs_nixpkgs_lib
def test_the_vm_homes_are_configured_for_either_resolver() -> None:
    """simple-nixos-mailserver 26.05 may enable knot-resolver 6 instead of kresd: the VM home then
    confines knot-resolver.service, asks only the internet's name server, and passes."""
    resolver6 = (
        "{ lib, ... }: { services.kresd.enable = lib.mkForce false; services.knot-resolver.enable = true; }"
    )
    config = f"""(import ./tests/nix/stubs/evaluate.nix {{
      modules = [ ./tests/nix/stubs/host.nix ./tests/vm/nodes/home.nix ({resolver6}) ];
      specialArgs = {OUTPUTS}.checks.x86_64-linux.vm-inbound.testArguments.node.specialArgs;
    }}).config"""
    confined = eval_json(f"{config}.homeMail.home.confinedServices")
    assert "knot-resolver" in confined and "kresd@" not in confined
    assert eval_json(f"map (a: a.message) (builtins.filter (a: !a.assertion) {config}.assertions)") == []
    forward = eval_json(f"{config}.services.knot-resolver.settings.forward")
    assert forward[0]["servers"] == eval_json(f"with {VM_TOPOLOGY}.world.internet.dns; [ ipv4 ipv6 ]")


@needs_nixpkgs_lib
def test_the_vm_machines_get_the_flakes_modules() -> None:
    special = "checks.x86_64-linux.vm-inbound.testArguments.node.specialArgs"
    assert attribute_names(special) == ["homeMailModules", "mailserverModule", "world"]
    assert eval_json(f"toString {OUTPUTS}.{special}.homeMailModules.mail-home") == str(
        REPO / "modules/mail-home"
    )
    assert eval_json(f"toString {OUTPUTS}.{special}.mailserverModule") == str(
        REPO / "tests/nix/stubs/mailserver.nix"
    )


@needs_nixpkgs_lib
def test_the_mail_test_agent_package_is_the_labs_agent() -> None:
    """packages.<system>.mail-test-agent is pkgs/mail-test-agent, the lab's agent file as a program
    of the bare python3 (it needs nothing beyond the standard library)."""
    assert outputs("packages.x86_64-linux.mail-test-agent.callArguments") == {}
    writers = "writers.writePython3Bin = name: arguments: content: { inherit name arguments content; };"
    package = f"import ./pkgs/mail-test-agent/package.nix {{ {writers} }}"
    assert eval_json(f"({package}).name") == "mail-test-agent"
    assert eval_json(f"({package}).arguments") == {"doCheck": False}
    assert eval_json(f"toString ({package}).content") == str(MAIL_AGENT)


@needs_nixpkgs_lib
def test_every_vm_machine_has_the_mail_test_agent() -> None:
    """The VM tests' nodes have `mail-test-agent` on their PATH, as the lab's machines do."""
    pkgs = 'inputs.nixpkgs.legacyPackages.x86_64-linux // { netcat-openbsd.name = "netcat-openbsd"; }'
    defaults = f"""(let
      inputs = import ./tests/nix/stubs/flake-inputs.nix;
      pkgs = {pkgs};
    in {OUTPUTS}.checks.x86_64-linux.vm-inbound.testArguments.defaults {{
      inherit pkgs;
      name = "home";
      world.secrets.caCertificate = "/ca.pem";
    }})"""
    packages = eval_json(f"map (package: package.name) {defaults}.environment.systemPackages")
    assert packages == ["mail-test-agent", "curl", "netcat-openbsd", "openssl", "nftables"]
    assert eval_json(f"builtins.head {defaults}.environment.systemPackages") == outputs(
        "packages.x86_64-linux.mail-test-agent"
    )


def vm_node(name: str, attribute: str) -> Any:
    """`config.<attribute>` of VM node `name` (tests/vm/nodes), evaluated against the stand-ins."""
    return eval_json(
        f"""(import ./tests/nix/stubs/evaluate.nix {{
          modules = [ ./tests/nix/stubs/host.nix ./tests/vm/nodes/{name}.nix ];
          specialArgs = {OUTPUTS}.checks.x86_64-linux.vm-inbound.testArguments.node.specialArgs;
        }}).config.{attribute}"""
    )


@needs_nixpkgs_lib
def test_the_vm_machines_have_the_host_names_of_the_topology() -> None:
    """NixOS puts `<hostName>.<domain>` (when there is a domain) and `<hostName>` on 127.0.0.2 of
    /etc/hosts (networking.hosts): from the names each VM node sets, that is the topology's `hosts`,
    which the lab writes (mail_lab.lab.world)."""
    machines = eval_json(f"{VM_TOPOLOGY}.world.machines")
    assert machines["home"]["hosts"] == {"127.0.0.2": ["mail.example.org", "mail"]}
    assert machines["client"]["hosts"] == {"127.0.0.2": ["client"]}
    for name, machine in machines.items():
        host_name = vm_node(name, "networking.hostName")
        domain = vm_node(name, "networking.domain")
        names = ([f"{host_name}.{domain}"] if domain else []) + [host_name]
        assert machine["hosts"] == {"127.0.0.2": names}, name


@needs_nixpkgs_lib
def test_the_vm_machines_keep_their_node_names_in_the_driver() -> None:
    """home's host name is `mail`, but the scenarios call it `home`: the VM tests' defaults name
    each node's system after the node, so a driver naming machines by system.name (whose default
    is the host name) still has `home`, `remote`, ..."""
    defaults = f"{OUTPUTS}.checks.x86_64-linux.vm-inbound.testArguments.defaults"
    arguments = '{ pkgs = { }; world = { }; name = "home"; }'
    assert eval_json(f"({defaults} {arguments}).system.name") == "home"
    assert vm_node("home", "networking.hostName") == "mail"


@needs_nixpkgs_lib
def test_the_vm_gateway_and_home_run_the_plans_of_the_script_topology() -> None:
    """What the scenarios read from `topology` is what the VMs are configured with."""
    assert vm_node("gateway", "homeMail.gateway.plan") == eval_json(f"{VM_TOPOLOGY}.plans.gateway")
    assert vm_node("home", "homeMail.home.plan.wireguard") == eval_json(f"{VM_TOPOLOGY}.plans.home.wireguard")
    assert vm_node("home", "homeMail.home.plan.namespace") == eval_json(f"{VM_TOPOLOGY}.plans.home.namespace")
    for name in ("gateway", "home"):
        messages = eval_json(
            f"map (a: a.message) (builtins.filter (a: !a.assertion) ({vm_node_expression(name)}).assertions)"
        )
        assert messages == [], name
    assert vm_node("gateway", "networking.interfaces") == {
        "eth1": {
            "useDHCP": None,
            "ipv4": {"addresses": [{"address": "198.51.100.10", "prefixLength": 24}]},
            "ipv6": {"addresses": [{"address": "2001:db8:1::10", "prefixLength": 64}]},
        }
    }
    # On the gateway's link, with the test world's addresses rather than the driver's.
    assert vm_node("gateway", "virtualisation.interfaces") == {"eth1": {"vlan": 1, "assignIP": False}}
    assert vm_node("home", "virtualisation.interfaces") == {"eth1": {"vlan": 2, "assignIP": False}}
    confined = vm_node("home", "homeMail.home.confinedServices")
    assert confined == ["postfix", "dovecot", "kresd@1", "acme-order-renew-mail.example.org"]


def vm_doctor_plan(name: str) -> Any:
    """The /etc/home-mail/plan.json VM node `name` installs for the doctor."""
    return json.loads(vm_node(name, 'environment.etc."home-mail/plan.json".text'))


@needs_nixpkgs_lib
def test_the_vm_gateway_and_homes_give_the_doctor_the_test_world() -> None:
    """The doctor runs at the end of the VM tests' happy path: the VMs' plan files name the test
    world's mail name, domain and DNSBL zone (the internet's DNS serves them: the lab's zones), and
    each home the DKIM key its rspamd signs with."""
    assert vm_doctor_plan("gateway") == eval_json(f"{VM_TOPOLOGY}.doctor.gateway")
    expected = eval_json(f"{VM_TOPOLOGY}.doctor.home")
    for name, directory in (("home", "/var/dkim"), ("home-plain", "/var/lib/rspamd/dkim")):
        doctor = vm_doctor_plan(name)
        for key in ("role", "mailName", "domains", "dnsbl", "limits", "outsideAddresses"):
            assert doctor[key] == expected[key], (name, key)
        key_file = f"{directory}/example.org.mail.key"
        assert doctor["dkim"] == {"selector": "mail", "keyFile": key_file}, name
        rules = vm_node(name, "systemd.tmpfiles.rules")
        assert any(rule.startswith(f"C {key_file} ") for rule in rules), (name, rules)
    assert eval_json(f"{VM_TOPOLOGY}.world.dnsbl").endswith(".example.net")


@needs_nixpkgs_lib
def test_the_internet_routes_blocks_port_25_at_home_and_serves_the_zones() -> None:
    assert vm_node("internet", "boot.kernel.sysctl") == {
        "net.ipv4.conf.all.forwarding": 1,
        "net.ipv6.conf.all.forwarding": 1,
    }
    content = vm_node("internet", "networking.nftables.tables.isp.content")
    for rule in (
        "ip saddr 203.0.113.0/24 tcp dport 25 counter drop",
        "ip6 daddr 2001:db8:2::/64 tcp dport 25",
    ):
        assert rule in content
    if shutil.which("nft") is not None:
        check = subprocess.run(
            ["nft", "--check", "--file", "-"],
            input=f"table inet isp {{\n{content}}}\n",
            capture_output=True,
            text=True,
            check=False,
        )
        assert check.returncode == 0, check.stderr
    assert "/bin/knotd --config " in vm_node("internet", "systemd.services.knot.serviceConfig.ExecStart")
    zones = eval_json(
        "builtins.attrNames (import ./tests/vm/world.nix { lib = import <nixpkgs/lib>; }).zones"
    )
    assert {"example.org", "example.net", "100.51.198.in-addr.arpa"} <= set(zones)
    edge = vm_node("internet", "networking.interfaces.eth3.ipv4.addresses")
    assert {entry["address"] for entry in edge} == {"192.0.2.1", "192.0.2.53", "192.0.2.54"}


def zone_records(texts: dict[str, str]) -> set[tuple[str, str, str, str]]:
    """(zone, name, type, data) of zone files, without what differs by design: the SOA (serial) and
    the DKIM keys (the VM tests' are fixed files, the lab generates its own)."""
    import dns.zone  # noqa: PLC0415 - only this test needs dnspython

    records = set()
    for name, text in texts.items():
        zone = dns.zone.from_text(text, origin=name, relativize=False)
        for owner, rdataset in zone.iterate_rdatasets():
            kind = dns.rdatatype.to_text(rdataset.rdtype)
            if kind == "SOA" or "._domainkey." in owner.to_text():
                continue
            records |= {(name, owner.to_text(), kind, rdata.to_text()) for rdata in rdataset}
    return records


@needs_nixpkgs_lib
def test_the_vm_zones_are_the_labs_zones(tmp_path: Path) -> None:
    """tests/vm/zones.nix and the lab's zones.py write the records of tests/dns.nix the same way
    (record for record, every remote domain in a zone of its own)."""
    from mail_lab.services.dkim import dkim_key  # noqa: PLC0415
    from mail_lab.services.zones import dkim_domains, zone_texts  # noqa: PLC0415

    vm = eval_json("(import ./tests/vm/world.nix { lib = import <nixpkgs/lib>; }).zones")
    records = eval_json(f"{VM_TOPOLOGY}.dns")
    keys = {domain: dkim_key(tmp_path, domain) for domain in dkim_domains(records)}
    lab = zone_texts(records, keys, serial=1)
    assert set(vm) == set(lab) == set(records["zones"])
    assert zone_records(vm) == zone_records(lab)
    assert {"v4.example.net", "v6.example.net", "example.com"} <= set(vm)
    # Each DKIM record holds the public key of its domain's test key (tests/vm/secrets).
    for domain in ("example.org", "example.net"):
        published = (REPO / "tests" / "vm" / "secrets" / f"{domain}.mail.txt").read_text().strip()
        assert f"p={published[:200]}" in vm[domain].replace('" "', ""), domain


@needs_nixpkgs_lib
def test_the_remote_delivers_bob_into_the_maildir_the_scenarios_read() -> None:
    main = vm_node("remote", "services.postfix.settings.main")
    # example.net and every domain of world.remoteDomains.
    assert main["virtual_mailbox_domains"] == [
        "example.net",
        "example.com",
        "v4.example.net",
        "v6.example.net",
    ]
    assert main["virtual_mailbox_base"] == "/var/mail"
    assert vm_node("remote", "services.rspamd.postfix.enable") is True
    assert vm_node("remote", "systemd.tmpfiles.rules") == ["d /var/mail/bob 0700 vmail vmail - -"]


def vm_node_expression(name: str) -> str:
    return f"""(import ./tests/nix/stubs/evaluate.nix {{
      modules = [ ./tests/nix/stubs/host.nix ./tests/vm/nodes/{name}.nix ];
      specialArgs = {OUTPUTS}.checks.x86_64-linux.vm-inbound.testArguments.node.specialArgs;
    }}).config"""


@needs_nixpkgs_lib
def test_the_example_hosts_pass_their_assertions_and_agree() -> None:
    assert failing_messages("nixosConfigurations.gateway") == []
    assert failing_messages("nixosConfigurations.home") == []
    # The check evaluates lib.pairChecks of both hosts' intents and fails if any does not hold.
    assert outputs('checks.x86_64-linux."example-hosts".name') == "home-mail-example-intents.json"
    home = "nixosConfigurations.home.config"
    assert outputs(f"{home}.homeMail.home.confinedServices") == [
        "postfix",
        "dovecot",
        "kresd@1",
        "acme-order-renew-mail.example.org",
    ]
    assert outputs(f'{home}.security.acme.certs."mail.example.org".listenHTTP') == ":80"
    assert outputs(f"{home}.networking.resolvconf.useLocalResolver") is False


@needs_nixpkgs_lib
def test_the_example_hosts_give_the_doctor_their_mail_name_domains_and_dkim_key() -> None:
    """Without mailName and domains the doctor stops at once: each example host sets them (hosts/home
    through simple-nixos-mailserver), and each home names the key it signs with."""
    keys = {
        "home": "/var/dkim/example.org.mail.key",
        "home-plain": "/var/lib/rspamd/dkim/example.org.mail.key",
    }
    for host in ("gateway", "home", "home-plain"):
        etc = f'nixosConfigurations.{nix_string(host)}.config.environment.etc."home-mail/plan.json".text'
        doctor = json.loads(outputs(etc))
        assert (doctor["mailName"], doctor["domains"]) == ("mail.example.org", ["example.org"]), host
        assert doctor["dnsbl"] == ["zen.spamhaus.org"], host
        assert doctor["dkim"] == ({"selector": "mail", "keyFile": keys[host]} if host in keys else None), host


@needs_nixpkgs_lib
def test_the_plain_example_home_passes_and_agrees_with_the_gateway() -> None:
    """hosts/home-plain: no simple-nixos-mailserver; Dovecot 2.4 (stateVersion 26.05) with the
    versions nixpkgs requires; the same intent as hosts/home (the example-hosts check pairs it)."""
    assert failing_messages("nixosConfigurations.home-plain") == []
    home = "nixosConfigurations.home-plain.config"
    assert outputs(f"{home}.warnings") == []
    assert outputs(f"{home}.homeMail.home.intent") == outputs(
        "nixosConfigurations.home.config.homeMail.home.intent"
    )
    assert outputs(f"{home}.services.dovecot2.package.version") == "2.4.2"
    assert outputs(f'{home}.security.acme.certs."mail.example.org".listenHTTP') == ":80"
    assert "mailserver" not in attribute_names(home)


@needs_nixpkgs_lib
def test_the_plans_check_holds_the_test_worlds_plans() -> None:
    check = "checks.x86_64-linux.plans"
    assert outputs(f"{check}.name") == "home-mail-test-world-plans.json"
    assert json.loads(outputs(f"{check}.text")) == eval_json("(import ./tests/topology.nix { }).plans")


@needs_nixpkgs_lib
def test_the_lab_package_is_built_from_its_pyproject() -> None:
    pyproject = REPO / "pkgs" / "mail-lab" / "pyproject.toml"
    if not pyproject.exists():
        pytest.skip("pkgs/mail-lab/pyproject.toml does not exist yet")
    arguments = "packages.x86_64-linux.mail-lab.buildArguments"
    project = eval_json("(builtins.fromTOML (builtins.readFile ./pkgs/mail-lab/pyproject.toml)).project")
    assert outputs(f"{arguments}.pname") == project["name"]
    assert outputs(f"{arguments}.pyproject") is True
    assert eval_json(f"toString {OUTPUTS}.{arguments}.src") == str(REPO / "pkgs/mail-lab")
    dependencies = eval_json(f"map (d: d.name) {OUTPUTS}.{arguments}.dependencies")
    assert len(dependencies) == len(project.get("dependencies", []))
    assert "python3-pyroute2" in dependencies
    path = outputs(f"{arguments}.makeWrapperArgs")
    assert path[:3] == ["--prefix", "PATH", ":"]
    assert "-wireguard-go/bin" in path[3]
    # The daemon versions whose configuration the lab writes (Debian 12's).
    assert "-dovecot_2_3/bin" in path[3] and "-knot-resolver_5/bin" in path[3]


# --- the lock file --------------------------------------------------------------------------------


def flake_metadata(directory: Path) -> subprocess.CompletedProcess[str]:
    """`nix flake metadata` of flake.nix + flake.lock in `directory`, without updating the lock."""
    return subprocess.run(
        [
            "nix",
            "--extra-experimental-features",
            "nix-command flakes",
            "flake",
            "metadata",
            "--json",
            "--no-update-lock-file",
            f"path:{directory}",
        ],
        env={**os.environ, "NIX_CONFIG": "build-users-group ="},
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )


@pytest.fixture
def flake_copy(tmp_path: Path) -> Path:
    """flake.nix and flake.lock alone (the lock concerns only them; the repository is large)."""
    for name in ("flake.nix", "flake.lock"):
        shutil.copy(REPO / name, tmp_path / name)
    return tmp_path


needs_nix_command = pytest.mark.skipif(shutil.which("nix") is None, reason="the nix command is not installed")


@needs_nix
@needs_nix_command
def test_the_lock_is_complete_and_valid_offline(flake_copy: Path) -> None:
    result = flake_metadata(flake_copy)
    assert result.returncode == 0, result.stderr
    locks = json.loads(result.stdout)["locks"]
    nodes = locks["nodes"]
    assert nodes["root"]["inputs"] == {
        "nixpkgs": "nixpkgs",
        "simple-nixos-mailserver": "simple-nixos-mailserver",
    }
    assert nodes["nixpkgs"]["original"] == {
        "owner": "NixOS",
        "ref": "nixos-26.05",
        "repo": "nixpkgs",
        "type": "github",
    }
    mailserver = nodes["simple-nixos-mailserver"]
    assert mailserver["original"]["ref"] == "nixos-26.05"
    # simple-nixos-mailserver uses our nixpkgs.
    assert mailserver["inputs"]["nixpkgs"] == ["nixpkgs"]
    for node in ("nixpkgs", "simple-nixos-mailserver"):
        assert {"rev", "narHash", "lastModified"} <= set(nodes[node]["locked"]), node


@needs_nix
@needs_nix_command
def test_a_lock_that_does_not_match_the_flake_is_refused(flake_copy: Path) -> None:
    lock = json.loads((flake_copy / "flake.lock").read_text())
    lock["nodes"]["simple-nixos-mailserver"]["original"]["ref"] = "nixos-25.11"
    (flake_copy / "flake.lock").write_text(json.dumps(lock, indent=2))
    result = flake_metadata(flake_copy)
    assert result.returncode != 0
