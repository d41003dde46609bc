"""Home: the namespace, the tunnel inside it, the confined units, the resolver, postfix, TLS."""

from __future__ import annotations

import datetime
import functools
import ipaddress
import os
from collections import Counter

from home_mail_doctor.checks.context import Context
from home_mail_doctor.checks.firewall import table_rows
from home_mail_doctor.checks.tunnel import planned_peers
from home_mail_doctor.probes import dns as dnsprobe
from home_mail_doctor.probes import netlink, system, tls
from home_mail_doctor.probes.command import ProbeError
from home_mail_doctor.report import Check, Status, judged

TLS_PORTS = (25, 465, 993)


def _namespace(ctx: Context) -> dict[str, str]:
    ns: dict[str, str] = ctx.plan["namespace"]
    return ns


def _interface(ctx: Context) -> str:
    return str(ctx.plan["wireguard"]["interface"])


def namespace(ctx: Context) -> list[Check]:
    ns = _namespace(ctx)
    fix = f"systemctl restart {ns['unit']}"
    if not os.path.exists(ns["path"]):
        return [Check("namespace", Status.FAIL, f"no {ns['path']}", "the namespace, lo up", fix)]
    lo = next((link for link in netlink.links(ns["path"]) if link.name == "lo"), None)
    up = lo is not None and lo.up
    return [
        judged("namespace", up, f"{ns['path']}, lo {'up' if up else 'down'}", "the namespace, lo up", fix)
    ]


def interface_placement(ctx: Context) -> list[Check]:
    interface = _interface(ctx)
    ns = _namespace(ctx)
    unit = ctx.plan["wireguard"]["unit"]
    inside = any(link.name == interface for link in netlink.links(ns["path"]))
    leftover = next((link for link in netlink.links() if link.name == interface), None)
    return [
        judged(
            "wireguard.interface in namespace",
            inside,
            f"{interface} {'in' if inside else 'not in'} {ns['name']}",
            f"{interface} in {ns['name']}",
            f"systemctl restart {unit}",
        ),
        judged(
            "wireguard.interface not in host",
            leftover is None,
            f"{interface} ({leftover.kind or 'unknown kind'}) in the host's namespace"
            if leftover
            else "none",
            f"no {interface} in the host's namespace",
            f"ip link delete {interface}, then systemctl restart {unit}",
        ),
    ]


def _routable(cidr: str) -> bool:
    ip = ipaddress.ip_interface(cidr).ip
    return not (ip.is_loopback or ip.is_link_local)


def addresses(ctx: Context) -> list[Check]:
    ns = _namespace(ctx)
    interface = _interface(ctx)
    wanted = sorted((str(ipaddress.ip_interface(c)), interface) for c in ctx.plan["wireguard"]["ips"])
    held = sorted(
        (address, device)
        for device, cidrs in netlink.addresses(ns["path"]).items()
        for address in cidrs
        if _routable(address)
    )
    extra = [entry for entry in held if entry not in wanted]
    restart = f"systemctl restart {ctx.plan['wireguard']['unit']}"
    fix = f"ip -n {ns['name']} address delete {extra[0][0]} dev {extra[0][1]}" if extra else restart
    return [
        judged(
            "namespace addresses",
            held == wanted,
            ", ".join(f"{a} {d}" for a, d in held) or "none",
            ", ".join(f"{a} {d}" for a, d in wanted) + ", nothing else",
            fix + " (only homeMail.home.addresses belong in the namespace)",
        )
    ]


def default_routes(ctx: Context) -> list[Check]:
    ns = _namespace(ctx)
    wanted = sorted(f"{r['destination']} dev {r['dev']}" for r in ctx.plan["routes"])
    live = sorted(
        f"{r.destination} dev {r.dev}"
        for r in netlink.routes(ns["path"])
        if ipaddress.ip_network(r.destination).prefixlen == 0
    )
    missing = [w for w in wanted if w not in live]
    fix = (
        f"ip -n {ns['name']} route add {missing[0]}"
        if missing
        else f"remove the others: ip -n {ns['name']} route"
    ) + f" (or systemctl restart {ctx.plan['wireguard']['unit']})"
    return [
        judged("namespace default routes", live == wanted, "; ".join(live) or "none", "; ".join(wanted), fix)
    ]


def source_addresses(ctx: Context) -> list[Check]:
    ns = _namespace(ctx)
    interface = _interface(ctx)
    rows = []
    for family, outside in (("ipv4", ctx.doctor.outside_ipv4), ("ipv6", ctx.doctor.outside_ipv6)):
        forwarded = ctx.plan["addresses"][family]
        if not forwarded:
            continue
        route = netlink.route_get(outside, ns["path"])
        saw = f"dev {route.dev} src {route.source}" if route else "unreachable"
        good = route is not None and route.dev == interface and route.source in forwarded
        rows.append(
            judged(
                f"source {family} in namespace",
                good,
                saw,
                f"dev {interface} src {' or '.join(forwarded)}",
                f"ip -n {ns['name']} route: the default route must be dev {interface}, and no other address "
                "in the namespace (homeMail.home.addresses)",
            )
        )
        host_route = netlink.route_get(outside)
        if host_route is None:
            rows.append(Check(f"source {family} outside", Status.SKIPPED, "no route", "the ISP line"))
            continue
        host_good = host_route.dev != interface and host_route.source not in forwarded
        rows.append(
            judged(
                f"source {family} outside",
                host_good,
                f"dev {host_route.dev} src {host_route.source}",
                "the ISP line, not the tunnel",
                f"the host's own traffic must not use {interface} or a forwarded address: ip route",
            )
        )
    return rows


def tunnel_peer(ctx: Context) -> list[Check]:
    return planned_peers(ctx, _namespace(ctx)["path"])


def confined_units(ctx: Context) -> list[Check]:
    ns = _namespace(ctx)
    inode = system.namespace_inode(ns["path"])
    rows = []
    for service in ctx.plan["confinedServices"]:
        for unit in system.unit_instances(service):
            pid = system.main_pid(unit)
            name = f"confined {unit}"
            if pid == 0:
                rows.append(Check(name, Status.SKIPPED, "not running", f"in {ns['name']}"))
                continue
            problems = []
            if os.stat(f"/proc/{pid}/ns/net").st_ino != inode:
                problems.append(f"network namespace is not {ns['path']}")
            try:
                resolv = open(f"/proc/{pid}/root/etc/resolv.conf").read()  # noqa: SIM115
            except OSError:
                resolv = ""
            if resolv != ns["resolvConf"]:
                problems.append("/etc/resolv.conf is not the namespace's")
            if os.path.exists(f"/proc/{pid}/root/run/nscd/socket"):
                problems.append("nscd's socket is reachable")
            rows.append(
                judged(
                    name,
                    not problems,
                    "; ".join(problems) or f"pid {pid} in {ns['name']}",
                    f"in {ns['path']}, the namespace's resolv.conf, no nscd",
                    f"systemctl restart {unit}",
                )
            )
    return rows


def namespace_firewall(ctx: Context) -> list[Check]:
    ns = _namespace(ctx)
    return table_rows(
        "namespace nftables",
        ctx.plan["namespace"]["nftables"],
        ns["path"],
        f"systemctl restart {ns['unit']} (it loads the namespace's ruleset)",
    )


def resolver(ctx: Context) -> list[Check]:
    domain = ctx.doctor.domains[0]
    servers = dnsprobe.nameservers_of(_namespace(ctx)["resolvConf"])
    try:
        answer = ctx.in_mail_namespace(lambda: dnsprobe.lookup(ctx.resolver, domain, "SOA"))
    except ProbeError as error:
        answer, problem = [], str(error)
    else:
        problem = "" if answer else "no SOA"
    return [
        judged(
            "namespace resolver",
            bool(answer),
            answer[0].split()[0] if answer else problem,
            f"{', '.join(servers)} answers SOA {domain}",
            "start the namespace's resolver (services.kresd, homeMail.home.nameservers)",
        )
    ]


def postfix_queue(ctx: Context) -> list[Check]:
    messages = system.postfix_queue()
    now = datetime.datetime.now().timestamp()
    deferred = [m for m in messages if m.queue == "deferred"]
    oldest = int(now - min(m.arrival for m in deferred)) if deferred else 0
    reasons = Counter(reason for m in deferred for reason in m.reasons)
    saw = f"{len(messages)} queued, {len(deferred)} deferred" + (
        f", oldest {oldest} s; " + "; ".join(f"{n}x {r}" for r, n in reasons.most_common(3))
        if deferred
        else ""
    )
    status = Status.WARN if deferred and oldest > ctx.doctor.limits.queue_warn_age else Status.OK
    return [
        Check(
            "postfix queue",
            status,
            saw,
            f"no deferred mail older than {ctx.doctor.limits.queue_warn_age} s",
            None if status is Status.OK else "read the deferral reasons: postqueue -p; then postqueue -f",
        )
    ]


def _certificate_row(ctx: Context, address: str, port: int) -> Check:
    name = ctx.doctor.mail_name
    expects = f"valid for {name}, ≥ {ctx.doctor.limits.certificate_warn_days} d left"
    # From the namespace's loopback: postfix then sees localhost, not the forwarded address whose
    # PTR (the mail name) /etc/hosts points elsewhere, and logs no warning for each probe.
    loopback = "::1" if ":" in address else "127.0.0.1"
    probe = functools.partial(tls.presented, address, port, name, loopback)
    try:
        seen = ctx.in_mail_namespace(probe)
    except (OSError, ProbeError) as error:
        return Check(
            f"tls {port}",
            Status.FAIL,
            f"no TLS on {address}:{port} ({error})",
            expects,
            f"the daemon of port {port} does not answer in {_namespace(ctx)['name']}: "
            "systemctl status postfix.service dovecot.service",
        )
    days = (seen.not_after - datetime.datetime.now(datetime.UTC)).days
    if not seen.verified:
        status, fix = (
            Status.FAIL,
            f"renew the certificate of {name} (security.acme, homeMail.home.acmeCertificates)",
        )
    elif days < ctx.doctor.limits.certificate_warn_days:
        status, fix = Status.WARN, f"renew the certificate of {name} (security.acme)"
    else:
        status, fix = Status.OK, None
    return Check(f"tls {port}", status, (seen.error or "valid") + f", expires in {days} d", expects, fix)


def certificates(ctx: Context) -> list[Check]:
    return [_certificate_row(ctx, ctx.doctor.forwarded_all[0], port) for port in TLS_PORTS]


CHECKS = [
    ("namespace", namespace),
    ("wireguard.interface", interface_placement),
    ("namespace addresses", addresses),
    ("namespace default routes", default_routes),
    ("source addresses", source_addresses),
    ("wireguard.peer", tunnel_peer),
    ("confined units", confined_units),
    ("namespace nftables", namespace_firewall),
    ("namespace resolver", resolver),
    ("postfix queue", postfix_queue),
    ("tls", certificates),
]
