"""What the lab needs from the host before it touches anything: root and its programs."""

from __future__ import annotations

import os
import shutil

from mail_lab.errors import LabError

# program -> Debian package that provides it.
CORE_PROGRAMS = {
    "ip": "iproute2",
    "nft": "nftables",
    "wg": "wireguard-tools",
    "wireguard-go": "wireguard-go",
    "nsenter": "util-linux",
    "unshare": "util-linux",
    "setpriv": "util-linux",
    "mount": "mount",
    "sysctl": "procps",
    "nix-instantiate": "nix-bin",
    "nc": "netcat-openbsd",
    "ping": "iputils-ping",
    "bash": "bash",
}
SERVICE_PROGRAMS = {
    "postfix": "postfix",
    "dovecot": "dovecot-core",
    "sievec": "dovecot-sieve",
    "rspamd": "rspamd",
    "redis-server": "redis-server",
    "kresd": "knot-resolver",
    "knotd": "knot",
    "openssl": "openssl",
    "curl": "curl",
}
SEARCH_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class PreflightError(LabError, RuntimeError):
    pass


def missing_programs(services: bool = True) -> dict[str, str]:
    wanted = {**CORE_PROGRAMS, **(SERVICE_PROGRAMS if services else {})}
    return {
        program: package
        for program, package in wanted.items()
        if shutil.which(program, path=SEARCH_PATH) is None
    }


def check(services: bool = True) -> None:
    if os.geteuid() != 0:
        raise PreflightError("the lab must run as root (it creates network namespaces and mounts)")
    missing = missing_programs(services)
    if missing:
        packages = " ".join(sorted(set(missing.values())))
        raise PreflightError(
            f"missing programs: {', '.join(sorted(missing))}; install the Debian packages: "
            f"apt-get install --no-install-recommends {packages}"
        )
