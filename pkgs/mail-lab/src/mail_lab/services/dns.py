"""knot (knotd): the internet's authoritative name server for every lab zone.

It listens on the world's DNS addresses (192.0.2.53, 2001:db8:3::53 in the default topology) and
answers with the zones of the topology's `dns` (tests/dns.nix, written out by `zones.zone_texts`).
There is no recursion anywhere on the internet: the lab's resolvers (kresd at home, libc
elsewhere) ask this server for everything.
"""

from __future__ import annotations

import shlex
from typing import Any

from mail_lab.services.dkim import dkim_key
from mail_lab.services.machine import MailMachine
from mail_lab.services.tls import LabCA
from mail_lab.services.world import MailWorld
from mail_lab.services.zones import dkim_domains, zone_texts
from mail_lab.units.unit import Unit

UNIT_NAME = "knot.service"
CONFIG = "/etc/knot/knot.conf"
STORAGE = "/var/lib/knot"
ZONE_DIR = f"{STORAGE}/zones"
RUNDIR = "/run/knot"


def knot_config(world: MailWorld, zones: list[str]) -> str:
    listen = ", ".join(f'"{address}@53"' for address in world.name_server.addresses)
    zone_entries = "".join(f'  - domain: "{zone}"\n' for zone in zones)
    return (
        "server:\n"
        f'    rundir: "{RUNDIR}"\n'
        '    user: "knot:knot"\n'
        f"    listen: [ {listen} ]\n"
        "log:\n"
        '  - target: "stderr"\n'
        '    any: "info"\n'
        "database:\n"
        f'    storage: "{STORAGE}"\n'
        "template:\n"
        '  - id: "default"\n'
        f'    storage: "{ZONE_DIR}"\n'
        '    file: "%s.zone"\n'
        # The zone files are the truth: load them whole, never write back, keep no journal.
        '    zonefile-load: "whole"\n'
        "    zonefile-sync: -1\n"
        '    journal-content: "none"\n'
        '    semantic-checks: "on"\n'
        "zone:\n" + zone_entries
    )


def knot_unit(machine: MailMachine, world: MailWorld, dns: dict[str, Any], ca: LabCA) -> Unit:
    keys = {domain: dkim_key(ca.state_dir, domain) for domain in dkim_domains(dns)}
    zones = zone_texts(dns, keys)
    for zone, text in zones.items():
        machine.write_file(f"{ZONE_DIR}/{zone}.zone", text)
    machine.write_file(CONFIG, knot_config(world, sorted(zones)), mode=0o640, group="knot")
    server = world.name_server.ipv4[0] if world.name_server.ipv4 else world.name_server.addresses[0]
    # Ready once every zone is served (knotd loads zones after it starts listening). Over TCP: a
    # query sent while knotd is still binding is refused at once, where a UDP one is lost and
    # kdig waits out its whole timeout (1 s, the least it takes).
    soa_checks = " && ".join(
        f"kdig +tcp +norec +timeout=1 +retry=0 @{server} SOA {shlex.quote(zone)} | grep -q 'status: NOERROR'"
        for zone in sorted(zones)
    )
    return Unit(
        name=UNIT_NAME,
        type="simple",
        exec_start_pre=[
            ["install", "-d", "-o", "knot", "-g", "knot", "-m", "0750", RUNDIR],
            ["chown", "-R", "knot:knot", STORAGE],
            ["knotc", "--config", CONFIG, "conf-check"],
        ],
        exec_start=[["knotd", "--config", CONFIG]],
        ready=soa_checks,
    )
