"""A benchmark-only link from the remote machine straight into home's `wg` namespace.

The "direct" path runs the same pipeline as the real one (home's postfix, rspamd, dovecot, the
`wg` namespace's firewall) without the gateway and the tunnel:

    remote (its own addresses, as in SPF) --veth direct0--> home's `wg`: 192.0.2.211, 2001:db8:3::211

- The veth is created in the remote machine with its peer in the home machine, then moved into
  `wg`. Only documentation addresses; only the remote's and home's namespaces are touched.
- Remote: host routes to the two direct addresses through `direct0` (IPv6 via a fixed link-local
  next hop). Everything else keeps going through the internet and the tunnel.
- `wg`: its only routes are the tunnel's defaults. Replies *from the direct addresses* use a
  routing table of their own (`ip rule from <direct address>`), so the remote's traffic to the
  public addresses still returns through the tunnel, as the gateway's stateful firewall needs.

Removing the link deletes the veth (both ends, their addresses and routes) and the two rules.
"""

from __future__ import annotations

import contextlib
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

from mail_lab.commands import run
from mail_lab.lab import safety
from mail_lab.lab.world import World

INTERFACE = "direct0"
TABLE = 211
REMOTE_LINK_LOCAL = "fe80::1"
HOME_LINK_LOCAL = "fe80::2"


@dataclass(frozen=True)
class DirectLink:
    remote_ipv4: str
    remote_ipv6: str
    home_ipv4: str = "192.0.2.211"
    home_ipv6: str = "2001:db8:3::211"

    def __post_init__(self) -> None:
        for address in (self.remote_ipv4, self.remote_ipv6, self.home_ipv4, self.home_ipv6):
            safety.documentation_address(address, "benchmark direct link")

    @classmethod
    def for_world(cls, world: World) -> DirectLink:
        remote = world.view.machine("remote")
        return cls(
            remote_ipv4=remote.address("ipv4"),
            remote_ipv6=remote.address("ipv6"),
        )


def home_namespace(world: World) -> str:
    return world.view.home.namespace.name


def in_home_namespace(world: World, script: str) -> str:
    """`script` as a command for the home machine, run in its confined namespace."""
    return f"ip netns exec {shlex.quote(home_namespace(world))} sh -euc {shlex.quote(script)}"


def add(world: World, link: DirectLink) -> None:
    remote, home = world.machines["remote"], world.machines["home"]
    run(
        [
            "ip",
            "-n",
            remote.namespace,
            "link",
            "add",
            INTERFACE,
            "type",
            "veth",
            "peer",
            "name",
            INTERFACE,
            "netns",
            home.namespace,
        ]
    )
    home.succeed(f"ip link set {INTERFACE} netns {shlex.quote(home_namespace(world))}")
    home.succeed(
        in_home_namespace(
            world,
            f"ip link set {INTERFACE} up\n"
            f"ip address add {link.home_ipv4}/32 dev {INTERFACE}\n"
            f"ip address add {link.home_ipv6}/128 dev {INTERFACE} nodad\n"
            f"ip address add {HOME_LINK_LOCAL}/64 dev {INTERFACE} nodad\n"
            f"ip route add {link.remote_ipv4}/32 dev {INTERFACE} src {link.home_ipv4} table {TABLE}\n"
            f"ip -6 route add {link.remote_ipv6}/128 via {REMOTE_LINK_LOCAL} dev {INTERFACE}"
            f" src {link.home_ipv6} table {TABLE}\n"
            f"ip rule add from {link.home_ipv4} lookup {TABLE} pref {TABLE}\n"
            f"ip -6 rule add from {link.home_ipv6} lookup {TABLE} pref {TABLE}\n",
        )
    )
    remote.succeed(
        f"ip link set {INTERFACE} up && "
        f"ip address add {REMOTE_LINK_LOCAL}/64 dev {INTERFACE} nodad && "
        f"ip route add {link.home_ipv4}/32 dev {INTERFACE} src {link.remote_ipv4} && "
        f"ip -6 route add {link.home_ipv6}/128 via {HOME_LINK_LOCAL} dev {INTERFACE} src {link.remote_ipv6}"
    )
    for address in (link.home_ipv4, link.home_ipv6):
        remote.wait_until_succeeds(f"ping -c 1 -W 1 {address}", timeout=15)


def remove(world: World, link: DirectLink) -> None:
    """Undo `add`; safe to call when it was only partly done or the machines were rebuilt."""
    remote, home = world.machines["remote"], world.machines["home"]
    if remote.is_up():
        remote.execute(f"ip link del {INTERFACE} 2>/dev/null || true")
    if home.is_up():
        home.execute(
            in_home_namespace(
                world,
                f"ip link del {INTERFACE} 2>/dev/null || true\n"
                f"ip rule del pref {TABLE} 2>/dev/null || true\n"
                f"ip -6 rule del pref {TABLE} 2>/dev/null || true\n",
            )
        )


@contextlib.contextmanager
def direct_link(world: World) -> Iterator[DirectLink]:
    link = DirectLink.for_world(world)
    try:
        add(world, link)
        yield link
    finally:
        remove(world, link)
