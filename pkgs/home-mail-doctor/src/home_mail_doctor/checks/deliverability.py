"""DNS and deliverability, from either role (at home through the namespace's resolver)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from pathlib import Path

from home_mail_doctor import classify, records
from home_mail_doctor.checks.context import Context
from home_mail_doctor.probes import dkim, spf
from home_mail_doctor.probes import dns as dnsprobe
from home_mail_doctor.report import Check, Status, judged


def _lookup(ctx: Context, name: str, rdtype: str) -> list[str]:
    return ctx.in_mail_namespace(lambda: dnsprobe.lookup(ctx.resolver, name, rdtype))


def _per_domain(ctx: Context, row: Callable[[Context, str], Check]) -> list[Check]:
    return [row(ctx, domain) for domain in ctx.doctor.domains]


def _mx_row(ctx: Context, domain: str) -> Check:
    hosts = sorted(r.split()[1].rstrip(".") for r in _lookup(ctx, domain, "MX"))
    return judged(
        f"dns MX {domain}",
        hosts == [ctx.doctor.mail_name],
        ", ".join(hosts) or "none",
        ctx.doctor.mail_name,
        f"publish `{domain}. MX 10 {ctx.doctor.mail_name}.` (home-mail-doctor records)",
    )


def mx(ctx: Context) -> list[Check]:
    return _per_domain(ctx, _mx_row)


def mail_name_addresses(ctx: Context) -> list[Check]:
    rows = []
    for family, rdtype in (("ipv4", "A"), ("ipv6", "AAAA")):
        wanted = sorted(ctx.doctor.forwarded[family])
        live = sorted(_lookup(ctx, ctx.doctor.mail_name, rdtype))
        rows.append(
            judged(
                f"dns {rdtype} {ctx.doctor.mail_name}",
                live == wanted,
                ", ".join(live) or "none",
                ", ".join(wanted) or "none",
                f"publish exactly the {rdtype} records `home-mail-doctor records` prints for "
                f"{ctx.doctor.mail_name} (the forwarded addresses, no ISP address)",
            )
        )
    return rows


def _ptr_row(ctx: Context, address: str) -> Check:
    names = [n.rstrip(".") for n in _lookup(ctx, dnsprobe.reverse_name(address), "PTR")]
    back: list[str] = []
    if names == [ctx.doctor.mail_name]:
        back = _lookup(ctx, names[0], "AAAA" if ":" in address else "A")
    return judged(
        f"dns PTR {address}",
        names == [ctx.doctor.mail_name] and address in back,
        ", ".join(names) or "none",
        f"{ctx.doctor.mail_name}, which resolves back",
        f"ask the vServer provider for PTR {address} -> {ctx.doctor.mail_name}.",
    )


def ptr(ctx: Context) -> list[Check]:
    return [_ptr_row(ctx, address) for address in ctx.doctor.forwarded_all]


def _spf_row(ctx: Context, domain: str) -> Check:
    def authorizes(address: str) -> bool:
        result = ctx.in_mail_namespace(
            lambda: spf.evaluate(ctx.resolver, address, domain, ctx.doctor.mail_name)
        )[0]
        return classify.spf_authorizes(result)

    refused = [a for a in ctx.doctor.forwarded_all if not authorizes(a)]
    isp = [a for a in ctx.isp_addresses if authorizes(a)]
    problems = [f"{a} not authorized" for a in refused] + [f"ISP address {a} authorized" for a in isp]
    return judged(
        f"dns SPF {domain}",
        not problems,
        "; ".join(problems) or "pass for every forwarded address, not for the ISP's",
        "every forwarded address passes, home's ISP address does not",
        f'publish `{domain}. TXT "{spf_text(ctx)}"` (home-mail-doctor records)',
    )


def spf_policy(ctx: Context) -> list[Check]:
    return _per_domain(ctx, _spf_row)


def spf_text(ctx: Context) -> str:
    return records.spf_record(ctx.doctor.forwarded["ipv4"], ctx.doctor.forwarded["ipv6"])


def dkim_key(ctx: Context) -> list[Check]:
    key = ctx.doctor.dkim
    if key is None:
        return [Check("dns DKIM", Status.SKIPPED, "no DKIM key on this machine", "the key home signs with")]
    private = Path(key.key_file).read_bytes()

    def row(ctx: Context, domain: str) -> Check:
        name = f"{key.selector}._domainkey.{domain}"
        good = ctx.in_mail_namespace(
            functools.partial(dkim.sign_and_verify, ctx.resolver, domain, key.selector, private)
        )
        return judged(
            f"dns DKIM {domain}",
            good,
            f"{name} {'matches' if good else 'does not match'} {key.key_file}",
            f"{name} TXT holds the public half of {key.key_file}",
            f"publish the DKIM record that `home-mail-doctor records` prints for {name}",
        )

    return _per_domain(ctx, row)


def _dmarc_row(ctx: Context, domain: str) -> Check:
    texts = [t for t in _lookup(ctx, f"_dmarc.{domain}", "TXT") if t.startswith("v=DMARC1")]
    tags = dict(part.strip().split("=", 1) for t in texts[:1] for part in t.split(";") if "=" in part)
    return judged(
        f"dns DMARC {domain}",
        len(texts) == 1 and tags.get("p") in ("none", "quarantine", "reject"),
        texts[0] if len(texts) == 1 else f"{len(texts)} DMARC records",
        "one v=DMARC1 record with p=none, quarantine or reject",
        f'publish `_dmarc.{domain}. TXT "{records.DMARC_TEXT}"` (home-mail-doctor records)',
    )


def dmarc(ctx: Context) -> list[Check]:
    return _per_domain(ctx, _dmarc_row)


def _dnsbl_row(ctx: Context, zone: str, address: str) -> Check:
    verdict = classify.dnsbl_answer(_lookup(ctx, classify.dnsbl_query_name(address, zone), "A"))
    fix = {
        Status.FAIL: f"{address} is listed on {zone}: ask for delisting at the list's site "
        "(and find what sent spam from it)",
        Status.WARN: f"{zone} refuses this resolver's queries, so rspamd's RBL checks are blind: "
        "use your own recursive resolver (homeMail.home.nameservers, services.kresd) or a DQS key",
    }.get(verdict.status)
    return Check(f"dnsbl {zone} {address}", verdict.status, verdict.meaning, "not listed", fix)


def dnsbl(ctx: Context) -> list[Check]:
    return [
        _dnsbl_row(ctx, zone, address) for zone in ctx.doctor.dnsbl for address in ctx.doctor.forwarded_all
    ]


CHECKS = [
    ("dns MX", mx),
    ("dns addresses", mail_name_addresses),
    ("dns PTR", ptr),
    ("dns SPF", spf_policy),
    ("dns DKIM", dkim_key),
    ("dns DMARC", dmarc),
    ("dnsbl", dnsbl),
]
