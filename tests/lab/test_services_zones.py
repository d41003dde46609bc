"""The lab's DNS zones: the records tests/dns.nix computes from the topology, written out by
services/zones.py with the lab's DKIM keys (no root needed)."""

import base64
from pathlib import Path
from typing import Any

import dns.name
import dns.rdatatype
import dns.zone
import pytest
from cryptography.hazmat.primitives import serialization

from mail_lab.lab.topology import PlanError, load_topology
from mail_lab.services.dkim import dkim_key
from mail_lab.services.zones import dkim_domains, zone_texts


def topology(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    try:
        return load_topology(overrides)
    except PlanError as error:
        if "nix-instantiate not found" in str(error):
            pytest.skip(str(error))
        raise


def zones_of(topology: dict[str, Any], state: Path) -> dict[str, dns.zone.Zone]:
    keys = {domain: dkim_key(state, domain) for domain in dkim_domains(topology["dns"])}
    return {
        name: dns.zone.from_text(text, origin=name, relativize=False)
        for name, text in zone_texts(topology["dns"], keys, serial=1).items()
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
    zones = zones_of(topology(), tmp_path)
    assert {"example.org.", "example.net."} <= {f"{name}." for name in zones}
    for name, zone in zones.items():
        assert zone.get_rdataset(name + ".", "SOA") is not None, name
        assert zone.get_rdataset(name + ".", "NS") is not None, name


def test_mail_records_follow_the_forwarded_addresses(tmp_path: Path) -> None:
    default = zones_of(topology(), tmp_path)
    moved = zones_of(topology({"home": {"addresses": ["198.51.100.12/32", "2001:db8:1::12/128"]}}), tmp_path)
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
    zones = zones_of(topology(), tmp_path)
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
    edu = {"mx": "mail.example.edu", "families": ["ipv6"]}
    zones = zones_of(topology({"world": {"remoteDomains": {"example.edu": edu}}}), tmp_path)
    assert {"example.edu", "example.com", "v4.example.net", "v6.example.net"} <= set(zones)
    assert answer({"example.edu": zones["example.edu"]}, "mail.example.edu.", "AAAA") == ["2001:db8:3::10"]
    assert answer(zones, "example.edu.", "MX") == ["10 mail.example.edu."]
    assert answer(zones, "mail.example.edu.", "AAAA") == ["2001:db8:3::10"]
    assert answer(zones, "mail.example.edu.", "A") == []


def test_a_remote_domain_without_a_known_family_is_refused() -> None:
    edu = {"mx": "mail.example.edu", "families": ["ipv5"]}
    with pytest.raises(PlanError, match=r"world\.remoteDomains\.example\.edu\.families is \[ ipv5 \]"):
        topology({"world": {"remoteDomains": {"example.edu": edu}}})


def test_dkim_records_publish_the_signing_keys_and_dmarc_rejects(tmp_path: Path) -> None:
    zones = zones_of(topology(), tmp_path)
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
