"""A plan's `wireguard` attribute set as units, the way NixOS' script backend builds them.

NixOS (networking.wireguard, useNetworkd = false) makes a oneshot `wireguard-<if>.service` that
creates the interface in the socket namespace, moves it to `interfaceNamespace`, sets mtu,
addresses, private key and listen port and brings it up, and per peer a oneshot
`wireguard-<if>-peer-<name>.service` that runs `wg set ... peer` and, with allowedIPsAsRoutes,
`ip route replace <allowedIP> dev <if> table <table>` in the interface namespace.

There is no kernel WireGuard here: wireguard-go makes the interface (a TUN device) and must keep
running for it to exist (killing it deletes the TUN). It runs as the lab's own simple unit
`wireguard-go-<if>.service`, in the socket namespace, PartOf= the interface unit (so stopping or
restarting the interface restarts it) and bound by it (BindsTo=: when wireguard-go dies, the
interface unit stops). Its UAPI socket is /run/wireguard/<if>.sock in the machine's own /run, so
each machine can use the plan's names (wg0).

NixOS runs an interface's `preSetup` commands in the unit's own script, in the host's namespace,
right before `ip link add`; here wireguard-go's start is that `ip link add`, so they are the
wireguard-go unit's ExecStartPre (home's plan removes a leftover interface of the tunnel's name
there, or refuses one of another type).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mail_lab.errors import LabError
from mail_lab.lab import safety
from mail_lab.lab.topology import Plan
from mail_lab.units.unit import Unit

# The machine's own network namespace as a file: that of its PID 1 (the container's systemd),
# what NixOS' "init" means.
MACHINE_NETNS_FILE = "/proc/1/ns/net"


class WireguardPlanError(LabError, ValueError):
    """A plan's WireGuard interface names a namespace the plan does not make."""


class _Namespaces:
    """The namespaces a plan's WireGuard units use, by name, as files (the plan's paths)."""

    def __init__(self, plan: Plan):
        self.files = {"init": MACHINE_NETNS_FILE}
        if plan.data.get("namespace"):
            self.files[plan.namespace.name] = plan.namespace.path

    def file(self, namespace: str | None) -> str | None:
        if namespace is None:
            return None
        if namespace not in self.files:
            raise WireguardPlanError(
                f"the plan's WireGuard interface uses network namespace {namespace!r}, but the plan "
                f"makes only {sorted(self.files)}: set plan.namespace or use one of those"
            )
        return self.files[namespace]

    def run(self, namespace: str | None, argv: list[str], ignore_failure: bool = False) -> list[str]:
        """`argv` run in `namespace` (None: where the unit runs, the machine's own namespace)."""
        path = self.file(namespace)
        command = argv if path is None else ["nsenter", f"--net={path}", "--", *argv]
        return ["-" + command[0], *command[1:]] if ignore_failure else command


def tun_unit_name(interface_unit: str) -> str:
    """The lab's wireguard-go unit beside the plan's interface unit `interface_unit`
    (wireguard-wg0.service: wireguard-go-wg0.service)."""
    kind, _, instance = interface_unit.partition("-")
    return f"{kind}-go-{instance}"


def _socket_namespace(wg: Mapping[str, Any]) -> str | None:
    return None if wg.get("socketNamespace") in (None, "init") else str(wg["socketNamespace"])


def _interface_namespace(wg: Mapping[str, Any]) -> str | None:
    """Where the interface ends up (None: where it was created)."""
    target = wg.get("interfaceNamespace")
    if target is None or target == wg.get("socketNamespace"):
        return _socket_namespace(wg)
    return str(target)


def tun_unit(plan: Plan) -> Unit:
    wg, interface = plan.wireguard, plan.interface
    return Unit(
        name=tun_unit_name(plan.interface_unit),
        type="simple",
        description=f"wireguard-go for WireGuard interface {interface}",
        exec_start_pre=[list(c) for c in wg.get("preSetup", [])],
        exec_start=[["wireguard-go", "--foreground", interface]],
        environment={"WG_PROCESS_FOREGROUND": "1", "LOG_LEVEL": "error"},
        network_namespace_path=_Namespaces(plan).file(_socket_namespace(wg)),
        ready=f"test -S /run/wireguard/{interface}.sock && ip link show dev {interface} >/dev/null",
        part_of=[plan.interface_unit],
    )


def interface_unit(plan: Plan) -> Unit:
    wg, interface, name = plan.wireguard, plan.interface, plan.interface_unit
    in_namespace = _Namespaces(plan).run
    socket_ns, target_ns = _socket_namespace(wg), _interface_namespace(wg)
    commands: list[list[str]] = []
    if wg.get("interfaceNamespace") is not None and target_ns != socket_ns:
        destination = (
            MACHINE_NETNS_FILE if wg["interfaceNamespace"] == "init" else str(wg["interfaceNamespace"])
        )
        commands.append(in_namespace(socket_ns, ["ip", "link", "set", interface, "netns", destination]))
    if wg.get("mtu") is not None:
        commands.append(in_namespace(target_ns, ["ip", "link", "set", interface, "mtu", str(wg["mtu"])]))
    for address in wg.get("ips", []):
        safety.documentation_interface(address, f"wireguard {interface} ips")
        commands.append(in_namespace(target_ns, ["ip", "address", "add", address, "dev", interface]))
    wg_set = ["wg", "set", interface, "private-key", str(wg["privateKeyFile"])]
    if wg.get("listenPort") is not None:
        wg_set += ["listen-port", str(wg["listenPort"])]
    commands.append(in_namespace(target_ns, wg_set))
    commands.append(in_namespace(target_ns, ["ip", "link", "set", "up", "dev", interface]))
    # The hooks run where the unit runs (NixOS runs them in the unit's own script), after the
    # interface is up; preShutdown before the interface is deleted.
    commands += [list(c) for c in wg.get("postSetup", [])]
    tun = tun_unit_name(name)
    return Unit(
        name=name,
        type="oneshot",
        remain_after_exit=True,
        description=f"WireGuard Tunnel - {interface}",
        exec_start=commands,
        # NixOS' postStop: preShutdown, then the interface is deleted.
        exec_stop_post=[
            *([list(c) for c in wg.get("preShutdown", [])]),
            in_namespace(target_ns, ["ip", "link", "del", "dev", interface], ignore_failure=True),
        ],
        requires=[tun],
        binds_to=[tun],
        after=[tun],
    )


def peer_unit(plan: Plan, peer: Mapping[str, Any]) -> Unit:
    wg, interface = plan.wireguard, plan.interface
    in_namespace = _Namespaces(plan).run
    target_ns = _interface_namespace(wg)
    allowed = [str(a) for a in peer["allowedIPs"]]
    for network in allowed:
        safety.route_destination(network, f"wireguard {interface} peer {peer['name']} allowedIPs")
    wg_set = ["wg", "set", interface, "peer", str(peer["publicKey"])]
    if peer.get("presharedKeyFile"):
        wg_set += ["preshared-key", str(peer["presharedKeyFile"])]
    if peer.get("endpoint"):
        safety.endpoint_address(str(peer["endpoint"]), f"wireguard {interface} peer {peer['name']} endpoint")
        wg_set += ["endpoint", str(peer["endpoint"])]
    if peer.get("persistentKeepalive"):
        wg_set += ["persistent-keepalive", str(peer["persistentKeepalive"])]
    wg_set += ["allowed-ips", ",".join(allowed)]
    table = str(wg.get("table", "main"))
    start = [in_namespace(target_ns, wg_set)]
    stop = [in_namespace(target_ns, ["wg", "set", interface, "peer", str(peer["publicKey"]), "remove"], True)]
    if wg.get("allowedIPsAsRoutes", True):
        for network in allowed:
            route = ["route", network, "dev", interface, "table", table]
            start.append(in_namespace(target_ns, ["ip", route[0], "replace", *route[1:]]))
            stop.append(in_namespace(target_ns, ["ip", route[0], "delete", *route[1:]], True))
    parent = plan.interface_unit
    return Unit(
        name=plan.peer_unit(str(peer["name"])),
        type="oneshot",
        remain_after_exit=True,
        description=f"WireGuard Peer - {interface} - {peer['name']}",
        exec_start=start,
        # NixOS' postStop: after a plan's ExecStop (e.g. the gateway saving endpoints).
        exec_stop_post=stop,
        environment={"WG_ENDPOINT_RESOLUTION_RETRIES": "infinity"},
        requires=[parent],
        after=[parent],
    )


def wireguard_units(plan: Plan) -> list[Unit]:
    """All units of a plan's WireGuard interface (`plan["wireguard"]`), named as the plan names them
    (`plan["wireguardUnits"]`)."""
    interface = interface_unit(plan)
    peers = [peer_unit(plan, peer) for peer in plan.peers]
    # NixOS: each peer unit is wantedBy the interface unit, so (re)starting the interface brings
    # its peers back.
    interface.wants += [peer.name for peer in peers]
    return [tun_unit(plan), interface, *peers]


def plan_routes(wg: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The routes the peer units install, in the plan's `routes` shape (to compare with it)."""
    if not wg.get("allowedIPsAsRoutes", True):
        return []
    return [
        {
            "namespace": wg.get("interfaceNamespace"),
            "destination": network,
            "dev": wg["interface"],
            "table": wg.get("table", "main"),
        }
        for peer in wg.get("peers", [])
        for network in peer["allowedIPs"]
    ]
