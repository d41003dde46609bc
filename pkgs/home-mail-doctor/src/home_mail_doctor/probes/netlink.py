"""Links, addresses, routes and neighbours through pyroute2 (netlink), here or in a namespace."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from typing import Any

from pyroute2 import IPRoute  # type: ignore[import-untyped]

NTF_PROXY = 0x08
IFF_UP = 0x1
RT_TABLE_MAIN = 254


@dataclass(frozen=True)
class Link:
    index: int
    name: str
    kind: str | None
    up: bool


@dataclass(frozen=True)
class Route:
    destination: str  # CIDR
    dev: str | None
    source: str | None


def _open(namespace_path: str | None) -> IPRoute:
    return IPRoute(netns=namespace_path) if namespace_path else IPRoute()


def links(namespace_path: str | None = None) -> list[Link]:
    with _open(namespace_path) as ipr:
        found = []
        for message in ipr.get_links():
            info = message.get_attr("IFLA_LINKINFO")
            kind = info.get_attr("IFLA_INFO_KIND") if info is not None else None
            found.append(
                Link(message["index"], message.get_attr("IFLA_IFNAME"), kind, bool(message["flags"] & IFF_UP))
            )
        return found


def addresses(namespace_path: str | None = None) -> dict[str, list[str]]:
    """Interface name -> its addresses as CIDR."""
    with _open(namespace_path) as ipr:
        names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in ipr.get_links()}
        table: dict[str, list[str]] = {}
        for message in ipr.get_addr():
            name = names.get(message["index"], str(message["index"]))
            table.setdefault(name, []).append(f"{message.get_attr('IFA_ADDRESS')}/{message['prefixlen']}")
        return table


def _route(message: Any, names: dict[int, str], family: int) -> Route:
    length = message["dst_len"]
    default = "0.0.0.0" if family == socket.AF_INET else "::"
    destination = message.get_attr("RTA_DST") or default
    network = ipaddress.ip_network(f"{destination}/{length}", strict=False)
    oif = message.get_attr("RTA_OIF")
    return Route(str(network), names.get(oif) if oif is not None else None, message.get_attr("RTA_PREFSRC"))


def routes(namespace_path: str | None = None) -> list[Route]:
    """Unicast routes of the main table, both families."""
    with _open(namespace_path) as ipr:
        names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in ipr.get_links()}
        found = []
        for family in (socket.AF_INET, socket.AF_INET6):
            for message in ipr.get_routes(family=family, table=RT_TABLE_MAIN):
                if message["type"] == 1:  # RTN_UNICAST
                    found.append(_route(message, names, family))
        return found


def route_get(destination: str, namespace_path: str | None = None) -> Route | None:
    """What `ip route get` says: the interface and source address toward `destination`."""
    family = socket.AF_INET6 if ":" in destination else socket.AF_INET
    with _open(namespace_path) as ipr:
        names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in ipr.get_links()}
        try:
            answer = ipr.route("get", dst=destination, family=family)
        except Exception:
            return None
        if not answer:
            return None
        message = answer[0]
        oif = message.get_attr("RTA_OIF")
        return Route(
            destination, names.get(oif) if oif is not None else None, message.get_attr("RTA_PREFSRC")
        )


def proxy_neighbours(namespace_path: str | None = None) -> list[tuple[str, str]]:
    """(address, interface) of every IPv6 proxy neighbour entry (`ip -6 neigh show proxy`)."""
    with _open(namespace_path) as ipr:
        names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in ipr.get_links()}
        found = []
        # The kernel dumps its proxy table when the request's ndm_flags is NTF_PROXY; an empty
        # dump_filter keeps pyroute2 from treating `flags` as a match on the answers instead.
        for message in ipr.neigh("dump", family=socket.AF_INET6, flags=NTF_PROXY, dump_filter={}):
            if message["flags"] & NTF_PROXY:
                found.append((str(message.get_attr("NDA_DST")), names.get(message["ifindex"], "?")))
        return found
