"""Gateway: sysctls, the uplink, routes and proxy neighbours, the homes' peers, nftables, SMTP."""

from __future__ import annotations

import ipaddress
from pathlib import Path

from home_mail_doctor.checks.context import Context
from home_mail_doctor.checks.entries import planned_entries
from home_mail_doctor.checks.firewall import table_rows
from home_mail_doctor.checks.tunnel import planned_peers
from home_mail_doctor.probes import netlink, tls, wireguard
from home_mail_doctor.report import Check, judged

SMTP_PORT = 25


def sysctls(ctx: Context) -> list[Check]:
    rows = []
    for key, wanted in sorted(ctx.plan["sysctl"].items()):
        path = Path("/proc/sys") / key.replace(".", "/")
        try:
            value = path.read_text().strip()
        except OSError as error:
            value = f"unreadable ({error.strerror})"
        rows.append(
            judged(
                f"sysctl {key}",
                value == str(wanted),
                value,
                str(wanted),
                f"sysctl -w {key}={wanted} (boot.kernel.sysctl, set by homeMail.gateway)",
            )
        )
    return rows


def uplink(ctx: Context) -> list[Check]:
    interface = ctx.plan["uplink"]["interface"]
    held = [str(ipaddress.ip_interface(a).ip) for a in netlink.addresses().get(interface, [])]
    wrong = [a for a in ctx.doctor.forwarded_all if a in held]
    return [
        judged(
            "uplink without forwarded addresses",
            not wrong,
            ", ".join(f"{a} on {interface}" for a in wrong) or f"none on {interface}",
            "forwarded addresses only routed into the tunnel, never on the uplink",
            f"ip address delete {wrong[0]}/{32 if ':' not in wrong[0] else 128} dev {interface} "
            "(and drop it from networking.interfaces)"
            if wrong
            else "",
        )
    ]


def routes(ctx: Context) -> list[Check]:
    return planned_entries(
        "route",
        [(r["destination"], r["dev"]) for r in ctx.plan["routes"]],
        [(r.destination, r.dev or "") for r in netlink.routes()],
        "ip route replace {address} dev {dev}",
        ctx.plan["wireguard"]["unit"],
    )


def proxy_neighbours(ctx: Context) -> list[Check]:
    return planned_entries(
        "proxy neighbour",
        [(n["address"], n["dev"]) for n in ctx.plan["proxyNeighbours"]],
        netlink.proxy_neighbours(),
        "ip -6 neigh add proxy {address} dev {dev}",
        ctx.plan["wireguard"]["unit"],
    )


def peers(ctx: Context) -> list[Check]:
    return planned_peers(ctx, None)


def saved_endpoints(ctx: Context) -> list[Check]:
    memory = ctx.plan["endpointMemory"]
    interface = ctx.plan["wireguard"]["interface"]
    live = {p.public_key: p.endpoint for p in wireguard.peers(interface) if p.endpoint}
    try:
        lines = Path(memory["file"]).read_text().split("\n")
    except OSError:
        lines = []
    saved = dict(line.split()[:2] for line in lines if len(line.split()) >= 2)
    stale = [key for key, endpoint in live.items() if saved.get(key) != endpoint]
    return [
        judged(
            "saved endpoints",
            not stale,
            f"{len(stale)} of {len(live)} endpoints differ from {memory['file']}"
            if stale
            else f"{memory['file']} current",
            "every live endpoint saved",
            f"systemctl restart {memory['unit']}.service (it saves every {memory['saveInterval']} s)",
        )
    ]


def firewall(ctx: Context) -> list[Check]:
    return table_rows(
        "gateway nftables",
        ctx.plan["nftables"],
        None,
        "systemctl restart nftables.service (networking.nftables, set by homeMail.gateway)",
    )


def smtp_through_tunnel(ctx: Context) -> list[Check]:
    rows = []
    for address in ctx.doctor.forwarded_all:
        try:
            line = tls.banner(address, SMTP_PORT)
        except OSError as error:
            line = f"no answer ({error})"
        rows.append(
            judged(
                f"smtp {address}",
                line.startswith("220 ") and ctx.doctor.mail_name in line,
                line,
                f"220 {ctx.doctor.mail_name} from home",
                "run home-mail-doctor at home (postfix, the tunnel and the namespace's firewall)",
            )
        )
    return rows


CHECKS = [
    ("sysctl", sysctls),
    ("uplink", uplink),
    ("routes", routes),
    ("proxy neighbours", proxy_neighbours),
    ("wireguard.peer", peers),
    ("saved endpoints", saved_endpoints),
    ("gateway nftables", firewall),
    ("smtp", smtp_through_tunnel),
]
