"""The DNS zones of the virtual internet, computed from the world and the DKIM keys.

Forward zones: one per mail domain, with A/AAAA of the mail hosts and the name server, MX, SPF
(the host's public addresses, `-all`), the DKIM public key and DMARC `p=reject`; and one per
other recipient domain of the remote (`world.remoteDomains`), with its MX and the MX host's
addresses of the domain's families. Reverse zones:
one per link network of the internet, with PTR records for every public mail address (home's
forwarded addresses -> home's MX name) and the name server.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from mail_lab.services.dkim import DkimKey
from mail_lab.services.world import Address, MailHost, MailWorld, Network

TTL = 300
MX_PREFERENCE = 10
# TXT character-strings are at most 255 bytes; longer texts are split into several.
TXT_CHUNK = 255


@dataclass(frozen=True)
class Record:
    name: str  # absolute, without the final dot
    type: str
    data: str

    def line(self) -> str:
        return f"{self.name}. {TTL} IN {self.type} {self.data}"


def txt_data(text: str) -> str:
    chunks = [text[start : start + TXT_CHUNK] for start in range(0, len(text), TXT_CHUNK)]
    return " ".join('"' + chunk.replace("\\", "\\\\").replace('"', '\\"') + '"' for chunk in chunks)


def spf_text(host: MailHost) -> str:
    mechanisms = [f"ip4:{a}" for a in host.ipv4] + [f"ip6:{a}" for a in host.ipv6]
    return "v=spf1 " + " ".join(mechanisms) + " -all"


DMARC_TEXT = "v=DMARC1; p=reject; adkim=r; aspf=r"


def address_records(name: str, addresses: Iterable[Address]) -> list[Record]:
    return [
        Record(name, "A" if isinstance(address, ipaddress.IPv4Address) else "AAAA", str(address))
        for address in addresses
    ]


def mail_domain_records(host: MailHost, key: DkimKey) -> list[Record]:
    """What a mail domain publishes: MX, the MX host's addresses, SPF, DKIM, DMARC."""
    return [
        Record(host.domain, "MX", f"{MX_PREFERENCE} {host.fqdn}."),
        *address_records(host.fqdn, host.addresses),
        Record(host.domain, "TXT", txt_data(spf_text(host))),
        Record(key.record_name, "TXT", txt_data(key.record_text)),
        Record(f"_dmarc.{host.domain}", "TXT", txt_data(DMARC_TEXT)),
    ]


def forward_records(world: MailWorld, keys: dict[str, DkimKey]) -> list[Record]:
    records = [record for host in world.hosts for record in mail_domain_records(host, keys[host.domain])]
    records += address_records(world.name_server.fqdn, world.name_server.addresses)
    for name, addresses in sorted(world.service_hosts.items()):
        records += address_records(name, addresses)
    # The remote's other recipient domains, each with an MX host of its families only.
    for entry in world.remote_domains:
        records.append(Record(entry.domain, "MX", f"{MX_PREFERENCE} {entry.mx}."))
        records += address_records(entry.mx, world.mx_addresses(entry))
    return records


def reverse_zone_name(network: Network) -> str:
    """`198.51.100.0/24` -> `100.51.198.in-addr.arpa`; `2001:db8:1::/64` -> its ip6.arpa zone."""
    unit = 8 if network.version == 4 else 4
    if network.prefixlen % unit:
        raise ValueError(f"{network}: a reverse zone needs a prefix length that is a multiple of {unit}")
    labels = network.network_address.reverse_pointer.split(".")
    host_labels = (network.max_prefixlen - network.prefixlen) // unit
    return ".".join(labels[host_labels:])


def ptr_records(world: MailWorld) -> list[Record]:
    named = [*world.hosts, world.name_server]
    return [
        Record(address.reverse_pointer, "PTR", f"{host.fqdn}.")
        for host in named
        for address in host.addresses
    ]


def owning_zone(name: str, zones: Sequence[str]) -> str:
    """The most specific zone of `zones` that `name` belongs to."""
    candidates = [zone for zone in zones if name == zone or name.endswith("." + zone)]
    if not candidates:
        raise ValueError(f"{name} is in none of the lab's zones {list(zones)}")
    return max(candidates, key=len)


def zone_texts(world: MailWorld, keys: dict[str, DkimKey], serial: int | None = None) -> dict[str, str]:
    """Zone name -> zone file text, for every zone the lab's name server is authoritative for."""
    forward_zones = [host.domain for host in world.hosts] + [entry.domain for entry in world.remote_domains]
    reverse_zones = sorted({reverse_zone_name(network) for network in world.link_networks})
    zones = [*forward_zones, *reverse_zones]
    grouped: dict[str, list[Record]] = {zone: [] for zone in zones}
    for record in [*forward_records(world, keys), *ptr_records(world)]:
        grouped[owning_zone(record.name, zones)].append(record)
    serial = serial if serial is not None else int(time.time())
    ns = world.name_server.fqdn
    texts: dict[str, str] = {}
    for zone, records in grouped.items():
        head = [
            Record(
                zone, "SOA", f"{ns}. hostmaster.{world.name_server.domain}. {serial} 3600 600 86400 {TTL}"
            ),
            Record(zone, "NS", f"{ns}."),
        ]
        texts[zone] = "".join(record.line() + "\n" for record in [*head, *records])
    return texts
