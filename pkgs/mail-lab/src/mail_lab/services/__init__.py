"""The real mail daemons of the lab, as units per machine.

`units_for(machine, topology, ca)` writes each daemon's configuration into the machine and
returns its units. Unit names are the NixOS ones; none of them carries namespace settings: the
home plan's `units` section (moveNs) is merged onto them by the renderer (mail_lab.units.install),
so the plan alone decides which services are confined to `wg`.

| machine  | units                                                                  |
| -------- | ---------------------------------------------------------------------- |
| internet | knot (authoritative DNS for every lab zone), pebble (ACME, mail_lab.services.acme) |
| home     | redis-rspamd, rspamd, kresd@1, dovecot, postfix (mail.example.org),    |
|          | acme-order-renew-mail.example.org (not at boot: a timer's in NixOS)    |
| remote   | redis-rspamd, rspamd, postfix (mx.example.net)                         |
| client   | none                                                                   |

Every machine trusts the lab CA (see `tls.install_trust`).
"""

from __future__ import annotations

from typing import Any

from mail_lab.lab.topology import TopologyView
from mail_lab.services import acme
from mail_lab.services.accounts import ensure_accounts
from mail_lab.services.dns import knot_unit
from mail_lab.services.dovecot import dovecot_unit
from mail_lab.services.kresd import kresd_unit
from mail_lab.services.machine import MailMachine
from mail_lab.services.postfix import home_postfix_unit, remote_postfix_unit
from mail_lab.services.redis import redis_unit
from mail_lab.services.rspamd import rspamd_unit
from mail_lab.services.tls import LabCA, install_trust
from mail_lab.services.world import MailWorld
from mail_lab.units.unit import Unit

__all__ = ["LabCA", "units_for"]


def units_for(machine: MailMachine, topology: dict[str, Any], ca: LabCA) -> list[Unit]:
    """Configure `machine`'s mail daemons and ACME (writing their files) and return their units."""
    return mail_units(machine, topology, ca) + acme.acme_units(machine, topology, ca)


def mail_units(machine: MailMachine, topology: dict[str, Any], ca: LabCA) -> list[Unit]:
    world = MailWorld.from_topology(topology)
    install_trust(machine, ca)
    if machine.name == "internet":
        return [knot_unit(machine, world, topology["dns"], ca)]
    if machine.name == "home":
        accounts = ensure_accounts(world, ca.state_dir)
        delivery = TopologyView(topology).home.delivery
        return [
            redis_unit(),
            rspamd_unit(machine, world.home, ca),
            kresd_unit(machine, world),
            dovecot_unit(
                machine,
                world.home,
                [a for a in accounts if a.domain == world.home.domain],
                ca,
                delivery,
            ),
            home_postfix_unit(machine, world, accounts, ca, delivery["postfixMain"]),
        ]
    if machine.name == "remote":
        ensure_accounts(world, ca.state_dir)
        return [
            redis_unit(),
            rspamd_unit(machine, world.remote, ca),
            remote_postfix_unit(machine, world, ca),
        ]
    return []
