"""rspamd: the milter of a mail host, checking SPF/DKIM/DMARC and DKIM-signing its own domain.

Only `local.d` overrides are written; Debian's /etc/rspamd stays as shipped. The host's postfix
talks to the milter over a unix socket, rspamd to redis over another (redis.py). DNS goes through
the machine's resolv.conf, i.e. to the lab's name server.

DMARC is enforced: a message failing DMARC of a `p=reject` domain is rejected at SMTP time.
Greylisting and the modules that only make sense with the real internet (DNS blocklists, fuzzy
hashes, phishing feeds, ASN lookups) are off, so that scores depend on the lab alone.

If rspamd is down, postfix answers with a temporary failure (`milter_default_action = tempfail`,
postfix.py): senders retry later, and no mail is accepted unscanned or unsigned, nor lost.
"""

from __future__ import annotations

from mail_lab.services import redis
from mail_lab.services.dkim import dkim_key
from mail_lab.services.machine import MailMachine
from mail_lab.services.tls import LabCA
from mail_lab.services.world import MailHost
from mail_lab.units.unit import Unit

UNIT_NAME = "rspamd.service"
CONFIG = "/etc/rspamd/rspamd.conf"
LOCAL_D = "/etc/rspamd/local.d"
RUN_DIR = "/run/rspamd"
MILTER_SOCKET = f"{RUN_DIR}/milter.sock"
DB_DIR = "/var/lib/rspamd"
DKIM_DIR = f"{DB_DIR}/dkim"
LOG_DIR = "/var/log/rspamd"
USER = "_rspamd"
# The MTA's group: only it (and rspamd) may open the milter socket (see worker-proxy.inc).
MTA_GROUP = "postfix"
DISABLED_MODULES = [
    "asn",
    "emails",
    "fuzzy_check",
    "greylist",
    "phishing",
    "rbl",
    "url_redirector",
]


URL_SUFFIXES_FILE = "lab-url-suffixes.dat"
# The top-level domains of the lab's names (zones.py, the test addresses, Message-IDs).
URL_SUFFIXES = ("com", "net", "org", "test", "example")


def local_overrides(host: MailHost, selector: str) -> dict[str, str]:
    """File name in local.d -> content."""
    overrides = {
        "redis.conf": f'servers = "{redis.SOCKET}";\n',
        # The milter: a proxy that scans by itself. The socket's directory limits who may connect.
        "worker-proxy.inc": (
            f'bind_socket = "{MILTER_SOCKET} mode=0666";\n'
            "milter = yes;\n"
            "timeout = 120s;\n"
            'upstream "local" {\n  default = yes;\n  self_scan = yes;\n}\n'
        ),
        # log_severity: each line says its level ("[warning]"), which the log scan reads
        # (mail_lab.lab.daemon_logs); NixOS's rspamd logs to the journal, which keeps the level.
        "logging.inc": (
            f'type = "file";\nfilename = "{LOG_DIR}/rspamd.log";\nlevel = "info";\nlog_severity = true;\n'
        ),
        # rspamd builds its URL matcher from the public suffix list (about 9600 suffixes) at
        # every start, which took ~6 s of the lab's bring-up; the lab's mail only names its own
        # domains, so a list of their suffixes gives the same verdicts. URL detection in message
        # bodies is all it changes.
        "options.inc": f'url_tld = "{LOCAL_D}/{URL_SUFFIXES_FILE}";\n',
        URL_SUFFIXES_FILE: "".join(f"{suffix}\n" for suffix in URL_SUFFIXES),
        "actions.conf": "greylist = null;\n",
        "dkim_signing.conf": (
            f'path = "{DKIM_DIR}/$domain.$selector.key";\n'
            f'selector = "{selector}";\n'
            f'domain {{\n  "{host.domain}" {{\n'
            f'    path = "{DKIM_DIR}/{host.domain}.{selector}.key";\n'
            f'    selector = "{selector}";\n  }}\n}}\n'
            # Sign what authenticated users submit and what the host itself sends.
            "sign_authenticated = true;\nsign_local = true;\n"
            "allow_username_mismatch = false;\n"
        ),
        "dmarc.conf": 'actions {\n  quarantine = "add_header";\n  reject = "reject";\n}\n',
        "milter_headers.conf": (
            'use = ["authentication-results", "x-spam-status"];\n'
            # Replace any Authentication-Results a sender forged into the message.
            'routines {\n  authentication-results {\n    header = "Authentication-Results";\n'
            "    remove = 1;\n  }\n}\n"
        ),
    }
    for module in DISABLED_MODULES:
        overrides[f"{module}.conf"] = "enabled = false;\n"
    return overrides


def rspamd_unit(machine: MailMachine, host: MailHost, ca: LabCA) -> Unit:
    key = dkim_key(ca.state_dir, host.domain)
    machine.write_file(
        f"{DKIM_DIR}/{host.domain}.{key.selector}.key", key.private_pem, mode=0o600, owner=USER, group=USER
    )
    for name, content in local_overrides(host, key.selector).items():
        machine.write_file(f"{LOCAL_D}/{name}", content)
    return Unit(
        name=UNIT_NAME,
        type="simple",
        exec_start_pre=[
            ["install", "-d", "-o", USER, "-g", MTA_GROUP, "-m", "0750", RUN_DIR],
            ["install", "-d", "-o", USER, "-g", USER, "-m", "0750", DB_DIR, LOG_DIR],
            ["chown", "-R", f"{USER}:{USER}", DB_DIR],
            # A socket left by a previous run would make the readiness check below pass too early.
            ["rm", "-f", MILTER_SOCKET],
            ["rspamadm", "configtest", "--config", CONFIG],
        ],
        exec_start=[["rspamd", "--no-fork", "--user", USER, "--group", USER, "--config", CONFIG]],
        ready=f"test -S {MILTER_SOCKET}",
        after=[redis.UNIT_NAME],
        wants=[redis.UNIT_NAME],
    )
