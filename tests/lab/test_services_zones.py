"""The lab's DNS zones are derived from the topology (no root needed).

The topology's `world` and the home intent are evaluated by Nix from tests/topology.nix; the
home plan's normalized addresses are taken as the intent's addresses without their prefix length.
"""

import base64
import json
import os
import subprocess
from pathlib import Path
from typing import Any

import dns.name
import dns.rdatatype
import dns.zone
import pytest
from cryptography.hazmat.primitives import serialization

from mail_lab.services.dkim import dkim_key
from mail_lab.services.world import MailWorld
from mail_lab.services.zones import zone_texts

REPO = Path(__file__).resolve().parents[2]


def topology(overrides: str = "{ }") -> dict[str, Any]:
    expression = (
        f"let t = import {REPO}/tests/topology.nix {{ overrides = {overrides}; }}; "
        "in { inherit (t) world homeIntent; }"
    )
    result = subprocess.run(
        ["nix-instantiate", "--eval", "--strict", "--json", "-E", expression],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "NIX_CONFIG": "build-users-group ="},
    )
    if result.returncode != 0:
        pytest.skip(f"cannot evaluate tests/topology.nix with nix-instantiate: {result.stderr.strip()}")
    parsed: dict[str, Any] = json.loads(result.stdout)
    addresses = [a.split("/")[0] for a in parsed["homeIntent"]["addresses"]]
    parsed["plans"] = {
        "home": {
            "addresses": {
                "ipv4": [a for a in addresses if ":" not in a],
                "ipv6": [a for a in addresses if ":" in a],
            }
        }
    }
    return parsed


def zones_of(world: MailWorld, state: Path) -> dict[str, dns.zone.Zone]:
    keys = {host.domain: dkim_key(state, host.domain) for host in world.hosts}
    return {
        name: dns.zone.from_text(text, origin=name, relativize=False)
        for name, text in zone_texts(world, keys, serial=1).items()
    }


def answer(zones: dict[str, dns.zone.Zone], name: str, rdtype: str) -> list[str]:
    owner = dns.name.from_text(name)
    for zone in zones.values():
        rdataset = zone.get_rdataset(owner, dns.rdatatype.from_text(rdtype))
        if rdataset is not None:
            return sorted(rdata.to_text() for rdata in rdataset)
    return []


def txt(zones: dict[str, dns.zone.Zone], name: str) -> list[str]:
    return ["".join(part.strip('"') for part in record.split('" "')) for record in answer(zones, name, "TXT")]


def test_every_zone_parses_and_has_soa_and_ns(tmp_path: Path) -> None:
    world = MailWorld.from_topology(topology())
    zones = zones_of(world, tmp_path)
    assert {"example.org.", "example.net."} <= {f"{name}." for name in zones}
    for name, zone in zones.items():
        assert zone.get_rdataset(name + ".", "SOA") is not None, name
        assert zone.get_rdataset(name + ".", "NS") is not None, name


def test_mail_records_follow_the_forwarded_addresses(tmp_path: Path) -> None:
    default = zones_of(MailWorld.from_topology(topology()), tmp_path)
    moved_world = MailWorld.from_topology(
        topology('{ home.addresses = [ "198.51.100.12/32" "2001:db8:1::12/128" ]; }')
    )
    moved = zones_of(moved_world, tmp_path)
    for zones, v4, v6 in (
        (default, "198.51.100.11", "2001:db8:1::11"),
        (moved, "198.51.100.12", "2001:db8:1::12"),
    ):
        assert answer(zones, "example.org.", "MX") == ["10 mail.example.org."]
        assert answer(zones, "mail.example.org.", "A") == [v4]
        assert answer(zones, "mail.example.org.", "AAAA") == [v6]
        assert txt(zones, "example.org.") == [f"v=spf1 ip4:{v4} ip6:{v6} -all"]
        reverse_v4 = ".".join(reversed(v4.split("."))) + ".in-addr.arpa."
        assert answer(zones, reverse_v4, "PTR") == ["mail.example.org."]
    # The old address has no PTR any more.
    assert answer(moved, "11.100.51.198.in-addr.arpa.", "PTR") == []


def test_remote_and_the_mx_hosts_of_its_other_domains(tmp_path: Path) -> None:
    zones = zones_of(MailWorld.from_topology(topology()), tmp_path)
    assert txt(zones, "example.net.") == ["v=spf1 ip4:192.0.2.10 ip6:2001:db8:3::10 -all"]
    assert answer(zones, "10.2.0.192.in-addr.arpa.", "PTR") == ["mx.example.net."]
    v6_ptr = "0.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.3.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa."
    assert answer(zones, v6_ptr, "PTR") == ["mx.example.net."]
    # Each domain of world.remoteDomains is a zone of its own; its MX host has its families only.
    expected = {
        "v4.example.net": (["192.0.2.10"], []),
        "v6.example.net": ([], ["2001:db8:3::10"]),
        "example.com": (["192.0.2.10"], ["2001:db8:3::10"]),
    }
    assert {domain for domain in zones if not domain.endswith(".arpa")} >= set(expected)
    for domain, addresses in expected.items():
        assert answer(zones, f"{domain}.", "MX") == [f"10 mx.{domain}."]
        mx = f"mx.{domain}."
        assert (answer(zones, mx, "A"), answer(zones, mx, "AAAA")) == addresses, domain


def test_any_number_of_remote_domains_each_in_its_own_zone(tmp_path: Path) -> None:
    world = topology()
    world["world"]["remoteDomains"]["example.edu"] = {"mx": "mail.example.edu", "families": ["ipv6"]}
    zones = zones_of(MailWorld.from_topology(world), tmp_path)
    assert {"example.edu", "example.com", "v4.example.net", "v6.example.net"} <= set(zones)
    assert answer({"example.edu": zones["example.edu"]}, "mail.example.edu.", "AAAA") == ["2001:db8:3::10"]
    assert answer(zones, "example.edu.", "MX") == ["10 mail.example.edu."]
    assert answer(zones, "mail.example.edu.", "AAAA") == ["2001:db8:3::10"]
    assert answer(zones, "mail.example.edu.", "A") == []


def test_a_remote_domain_without_a_known_family_is_refused() -> None:
    world = topology()
    world["world"]["remoteDomains"]["example.edu"] = {"mx": "mail.example.edu", "families": ["ipv5"]}
    with pytest.raises(ValueError, match=r"world\.remoteDomains\.example\.edu\.families is \['ipv5'\]"):
        MailWorld.from_topology(world)


def test_dkim_records_publish_the_signing_keys_and_dmarc_rejects(tmp_path: Path) -> None:
    world = MailWorld.from_topology(topology())
    zones = zones_of(world, tmp_path)
    for domain in ("example.org", "example.net"):
        private = serialization.load_pem_private_key(
            (tmp_path / "dkim" / f"{domain}.mail.key").read_bytes(), None
        )
        public = private.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        [record] = txt(zones, f"mail._domainkey.{domain}.")
        tags = dict(part.strip().split("=", 1) for part in record.split(";"))
        assert tags["v"] == "DKIM1" and tags["k"] == "rsa"
        assert base64.b64decode(tags["p"]) == public
        [dmarc] = txt(zones, f"_dmarc.{domain}.")
        assert "p=reject" in dmarc.replace(" ", "").split(";")
