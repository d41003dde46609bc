"""Bad inputs for the plan checks: each case breaks one option of the test world's intents.

A case is either `overrides` for tests/topology.nix (merged recursively into the intents; `home`
overrides of addresses and openPorts reach the gateway too) or `nix`, an expression of the broken
intent in which `i` is the test world's intent of the case's role (for a `pair` case: the argument
of pairChecks, in which `gateway` and `home` are the test world's intents). The check must fail with a
message that starts with `path` and contains every keyword; any other failing message must start
with one of `also`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["home", "gateway", "pair"]

GATEWAY_KEY = "tggv2towuHBkiI9bo92jAObTbOyhHE7oyKHaJdqlhyQ="
# Same length and alphabet, but the last character carries bits beyond 32 bytes.
GATEWAY_KEY_NOT_32_BYTES = GATEWAY_KEY[:42] + "R="
HOME_KEY = "pL6sgVmg/yaxBGFUB+AKsgr5LNHMGD9IfCIhiS9FRxg="
# The test world's key of a peer the gateway does not know (tests/topology.nix, keys.intruder).
INTRUDER_KEY = "QmCf7x1KICML83RoIwQsebnJN5X8FtNNXtAnAsbQq0c="
V6 = "2001:db8:1::11/128"
V4 = "198.51.100.11/32"


@dataclass(frozen=True)
class Case:
    id: str
    role: Role
    path: str
    keywords: tuple[str, ...]
    overrides: dict[str, Any] | None = None
    nix: str | None = None
    also: tuple[str, ...] = field(default_factory=tuple)


def home(case_id: str, path: str, keywords: tuple[str, ...], **home_overrides: Any) -> Case:
    return Case(case_id, "home", f"homeMail.home.{path}", keywords, overrides={"home": home_overrides})


def home_gateway(case_id: str, keywords: tuple[str, ...], **gateway_overrides: Any) -> Case:
    """A case for homeMail.home.gateway.*."""
    (option,) = gateway_overrides
    return home(case_id, f"gateway.{option}", keywords, gateway=gateway_overrides)


def gateway(case_id: str, path: str, keywords: tuple[str, ...], **gateway_overrides: Any) -> Case:
    return Case(
        case_id, "gateway", f"homeMail.gateway.{path}", keywords, overrides={"gateway": gateway_overrides}
    )


def gateway_home(case_id: str, path: str, keywords: tuple[str, ...], **home_overrides: Any) -> Case:
    """A case for homeMail.gateway.homes.home.*."""
    return gateway(case_id, f"homes.home.{path}", keywords, homes={"home": home_overrides})


END_ROLES: tuple[Role, ...] = ("home", "gateway")


def wireguard(case_id: str, option: str, keywords: tuple[str, ...], value: object) -> list[Case]:
    """A bad option of the WireGuard interface, which both ends check alike (lib/fields.nix,
    wireguardChecks): the case at home and at the gateway."""
    overrides = {option: value}
    return [
        home(case_id, f"wireguard.{option}", keywords, wireguard=overrides),
        gateway(f"gateway-{case_id}", f"wireguard.{option}", keywords, wireguard=overrides),
    ]


WIREGUARD_CASES = [
    *wireguard("interface-too-long", "interface", ("at most 15", "IFNAMSIZ"), "wireguard-mail01"),
    *wireguard("interface-bad-characters", "interface", ("letters, digits",), "wg 0"),
    *wireguard("interface-all", "interface", ("net.ipv4.conf.all",), "all"),
    *wireguard("mtu-too-small", "mtu", ("1280", "IPv6"), 1000),
    *wireguard("mtu-below-ipv6-minimum", "mtu", ("1280",), 1279),
    *wireguard("mtu-too-large", "mtu", ("9000",), 9001),
    *wireguard("mtu-not-a-number", "mtu", ("not a whole number",), "1420"),
    *wireguard("listen-port-too-large", "listenPort", ("1 to 65535",), 65536),
    *wireguard("private-key-file-unset", "privateKeyFile", ("is not set", "umask 077"), None),
    *wireguard(
        "private-key-file-in-store",
        "privateKeyFile",
        ("Nix store", "every local user can read"),
        "/nix/store/0123456789abcdfghijklmnpqrsvwxyz-wg0.key",
    ),
    *wireguard("private-key-file-not-a-path", "privateKeyFile", ("5 is not a file path",), 5),
    *wireguard("private-key-file-relative", "privateKeyFile", ("absolute path",), "wg0.key"),
    *(
        Case(
            "private-key-file-nix-path" if role == "home" else "gateway-private-key-file-nix-path",
            role,
            f"homeMail.{role}.wireguard.privateKeyFile",
            ("Nix path", "world-readable"),
            nix="i // { wireguard = i.wireguard // { privateKeyFile = /etc/wireguard/wg0.key; }; }",
        )
        for role in END_ROLES
    ),
]

HOME_CASES = [
    # namespace
    home("namespace-empty", "namespace", ("not a namespace name",), namespace=""),
    home("namespace-too-long", "namespace", ("at most 15",), namespace="mailnamespace123"),
    home("namespace-bad-characters", "namespace", ("letters, digits", "/run/netns"), namespace="mail/wg"),
    home("namespace-init", "namespace", ("PID 1", "choose another name"), namespace="init"),
    home("namespace-default", "namespace", ('"default"', "choose another name"), namespace="default"),
    # addresses
    home("addresses-empty", "addresses", ("is empty", "198.51.100.11/32"), addresses=[]),
    home("addresses-not-a-list", "addresses", ("not a list of addresses",), addresses=V4),
    home("address-empty-string", "addresses", ("is empty",), addresses=["", V6]),
    home(
        "address-no-prefix",
        "addresses",
        ("no prefix length", '"198.51.100.11/32"'),
        addresses=["198.51.100.11", V6],
    ),
    home(
        "ipv4-not-32",
        "addresses",
        ("not a single address", '"198.51.100.11/32"'),
        addresses=["198.51.100.11/24", V6],
    ),
    home(
        "ipv6-not-128",
        "addresses",
        ("not a single address", '"2001:db8:1::11/128"'),
        addresses=[V4, "2001:db8:1::11/64"],
    ),
    home(
        "octet-over-255", "addresses", ("octet 256", "larger than 255"), addresses=["198.51.100.256/32", V6]
    ),
    home(
        "octet-leading-zero", "addresses", ("leading zero", "write 11"), addresses=["198.51.100.011/32", V6]
    ),
    home("ipv4-three-octets", "addresses", ("not an IPv4 address",), addresses=["198.51.100/32", V6]),
    home(
        "ipv6-two-compressions", "addresses", ('"::" more than once',), addresses=[V4, "2001:db8::1::11/128"]
    ),
    home(
        "ipv6-nine-groups", "addresses", ("9 groups", "has 8"), addresses=[V4, "2001:db8:1:2:3:4:5:6:7/128"]
    ),
    home(
        "ipv6-eight-groups-and-compression",
        "addresses",
        ("at most 7",),
        addresses=[V4, "2001:db8:1:2:3:4:5::6/128"],
    ),
    home("ipv6-bad-hex", "addresses", ('"g1"', "hexadecimal"), addresses=[V4, "2001:db8:1::g1/128"]),
    home(
        "ipv6-group-too-long",
        "addresses",
        ('"10000"', "1 to 4 hexadecimal"),
        addresses=[V4, "2001:db8:1::10000/128"],
    ),
    home("ipv6-zone-index", "addresses", ("zone index",), addresses=[V4, "fe80::1%eth0/128"]),
    home("prefix-too-long", "addresses", ("at most /32",), addresses=["198.51.100.11/33", V6]),
    home("prefix-not-a-number", "addresses", ("not a prefix length",), addresses=["198.51.100.11/x", V6]),
    home(
        "address-is-a-host-name", "addresses", ("not an IP address",), addresses=["mail.example.org/32", V6]
    ),
    home("address-multicast", "addresses", ("multicast", "public unicast"), addresses=["224.0.0.1/32", V6]),
    home("address-loopback-ipv6", "addresses", ("loopback", "public unicast"), addresses=[V4, "::1/128"]),
    home(
        "duplicate-after-normalization",
        "addresses",
        ("same address", "2001:db8:1::11", "list it once"),
        addresses=[V4, V6, "2001:0DB8:1:0:0::11/128"],
    ),
    # gateway (the peer)
    home_gateway("endpoint-unset", ("is not set", "198.51.100.10:51820"), endpoint=None),
    home_gateway(
        "endpoint-host-name",
        ("host name", 'inside namespace "wg"', "until this very tunnel is up"),
        endpoint="gateway.example.org:51820",
    ),
    home_gateway("endpoint-no-port", ("has no port",), endpoint="198.51.100.10"),
    home_gateway("endpoint-port-too-large", ("invalid port",), endpoint="198.51.100.10:70000"),
    home_gateway("endpoint-port-zero", ("invalid port",), endpoint="198.51.100.10:0"),
    home_gateway("endpoint-port-not-a-number", ("invalid port",), endpoint="198.51.100.10:wg"),
    home_gateway(
        "endpoint-ipv6-without-brackets",
        ("without brackets", "[<address>]:<port>"),
        endpoint="2001:db8:1::10:51820",
    ),
    home_gateway("endpoint-ipv6-malformed", ('"::" more than once',), endpoint="[2001:db8::1::10]:51820"),
    home_gateway("endpoint-ipv4-in-brackets", ("in brackets",), endpoint="[198.51.100.10]:51820"),
    home_gateway("endpoint-octet-over-255", ("octet 300",), endpoint="198.51.100.300:51820"),
    home_gateway("endpoint-unspecified", ("this network", "public unicast"), endpoint="0.0.0.0:51820"),
    home_gateway(
        "endpoint-is-own-address", ("one of homeMail.home.addresses",), endpoint="198.51.100.11:51820"
    ),
    home_gateway(
        "public-key-short", ("not a WireGuard public key", "44 characters", "wg pubkey"), publicKey="abc"
    ),
    home_gateway(
        "public-key-not-32-bytes", ("not a WireGuard public key",), publicKey=GATEWAY_KEY_NOT_32_BYTES
    ),
    home_gateway(
        "public-key-without-padding", ("not a WireGuard public key",), publicKey=GATEWAY_KEY[:43] + "A"
    ),
    home_gateway("public-key-unset", ("is not set",), publicKey=None),
    home_gateway("preshared-key-file-in-store", ("Nix store",), presharedKeyFile="/nix/store/abc-home.psk"),
    home_gateway("keepalive-too-large", ("0..65535",), persistentKeepalive=65536),
    home_gateway("keepalive-negative", ("0..65535",), persistentKeepalive=-1),
    # nameservers
    home("nameservers-empty", "nameservers", ("is empty", '"127.0.0.1"'), nameservers=[]),
    home("nameservers-not-a-list", "nameservers", ("not a list of IP addresses",), nameservers="127.0.0.1"),
    home(
        "nameserver-with-prefix", "nameservers", ("prefix length", '"127.0.0.1"'), nameservers=["127.0.0.1/8"]
    ),
    home("nameserver-with-port", "nameservers", ("bare IP address",), nameservers=["127.0.0.1:53"]),
    home("nameserver-host-name", "nameservers", ("not an IP address",), nameservers=["dns.example.net"]),
    home(
        "nameservers-more-than-three",
        "nameservers",
        ("MAXNS",),
        nameservers=["127.0.0.1", "::1", "192.0.2.53", "2001:db8:3::53"],
    ),
    home(
        "nameserver-repeated", "nameservers", ("more than once",), nameservers=["127.0.0.1", "::1", "0:0::1"]
    ),
    # ports
    home("open-port-zero", "openPorts.tcp", ("1 to 65535",), openPorts={"tcp": [0, 25]}),
    home("open-port-too-large", "openPorts.udp", ("1 to 65535",), openPorts={"udp": [65536]}),
    home("open-port-as-string", "openPorts.tcp", ('"25"', "1 to 65535"), openPorts={"tcp": ["25"]}),
    home("open-port-repeated", "openPorts.tcp", ("port 25", "more than once"), openPorts={"tcp": [25, 25]}),
    home("open-ports-not-a-list", "openPorts.tcp", ("not a list of ports",), openPorts={"tcp": 25}),
    # services
    home(
        "service-with-suffix", "services", ('without ".service"', '"postfix"'), services=["postfix.service"]
    ),
    home("service-is-a-socket", "services", ("only services",), services=["dovecot.socket"]),
    home("service-empty-name", "services", ("not a service name",), services=[""]),
    home("service-bad-characters", "services", ("not a systemd unit name",), services=["post fix"]),
    home("service-is-the-namespace", "services", ("creates the namespace",), services=["netns@wg"]),
    home("service-is-the-tunnel", "services", ("moves it into the namespace",), services=["wireguard-wg0"]),
    home("service-repeated", "services", ("more than once",), services=["postfix", "postfix"]),
    home("services-not-a-list", "services", ("not a list of service names",), services="postfix"),
    home(
        "drop-duplicates-not-a-bool",
        "dropDuplicateDeliveries",
        ("true or false",),
        dropDuplicateDeliveries="no",
    ),
]

GATEWAY_CASES = [
    gateway(
        "uplink-unset", "uplink.interface", ("not an interface name", '"eth0"'), uplink={"interface": None}
    ),
    gateway("uplink-too-long", "uplink.interface", ("at most 15",), uplink={"interface": "enp0s31f6-uplink"}),
    gateway(
        "uplink-bad-characters", "uplink.interface", ("letters, digits",), uplink={"interface": "eth0:1"}
    ),
    gateway(
        "uplink-address-no-prefix",
        "uplink.addresses",
        ("no prefix length", "198.51.100.10/24"),
        uplink={"addresses": ["198.51.100.10", "2001:db8:1::10/64"]},
    ),
    gateway(
        "uplink-address-malformed",
        "uplink.addresses",
        ("octet 300",),
        uplink={"addresses": ["198.51.100.300/24", "2001:db8:1::10/64"]},
    ),
    gateway(
        "wireguard-is-uplink",
        "wireguard.interface",
        ("homeMail.gateway.uplink.interface",),
        wireguard={"interface": "eth0"},
    ),
    gateway("listen-port-zero", "wireguard.listenPort", ("1 to 65535",), wireguard={"listenPort": 0}),
    gateway("listen-port-unset", "wireguard.listenPort", ("1 to 65535",), wireguard={"listenPort": None}),
    Case("no-homes", "gateway", "homeMail.gateway.homes", ("is empty",), nix="i // { homes = { }; }"),
    Case(
        "homes-not-a-set",
        "gateway",
        "homeMail.gateway.homes",
        ("not a set of homes",),
        nix="i // { homes = [ ]; }",
    ),
    Case(
        "home-not-a-set",
        "gateway",
        "homeMail.gateway.homes.home",
        ("5 is not a set of home options",),
        nix="i // { homes = { home = 5; }; }",
        also=("homeMail.gateway.homes.home.publicKey", "homeMail.gateway.homes.home.addresses"),
    ),
    Case(
        "home-name-invalid",
        "gateway",
        "homeMail.gateway.homes.my+home",
        ("may only contain", "wireguard-<interface>-peer-<name>.service"),
        nix='i // { homes = { "my+home" = i.homes.home; }; }',
    ),
    gateway_home(
        "home-public-key-malformed", "publicKey", ("not a WireGuard public key",), publicKey="pL6sgVmg"
    ),
    Case(
        "home-public-keys-repeated",
        "gateway",
        "homeMail.gateway.homes.second.publicKey",
        ("also the key of home", '"home"', "own key pair"),
        overrides={
            "gateway": {"homes": {"second": {"publicKey": HOME_KEY, "addresses": ["198.51.100.12/32"]}}}
        },
        also=("homeMail.gateway.homes.home.publicKey",),
    ),
    gateway_home(
        "home-preshared-key-file-in-store",
        "presharedKeyFile",
        ("Nix store",),
        presharedKeyFile="/nix/store/x.psk",
    ),
    gateway_home("home-addresses-empty", "addresses", ("is empty",), addresses=[]),
    gateway_home(
        "home-address-ipv4-not-32", "addresses", ("not a single address",), addresses=["198.51.100.11/24"]
    ),
    gateway_home(
        "home-address-malformed-ipv6", "addresses", ("9 groups",), addresses=["1:2:3:4:5:6:7:8:9/128"]
    ),
    gateway_home(
        "home-address-repeated",
        "addresses",
        ("same address", "list it once"),
        addresses=[V6, "2001:db8:1:0:0:0:0:11/128"],
    ),
    gateway(
        "address-shared-by-two-homes",
        "homes.second.addresses",
        ('also forwarded to home "home"', "one home only"),
        homes={
            "second": {"publicKey": INTRUDER_KEY, "addresses": ["198.51.100.12/32", "2001:db8:1:0::11/128"]}
        },
    ),
    gateway_home(
        "forwarded-address-on-uplink",
        "addresses",
        ("198.51.100.10 is also in homeMail.gateway.uplink.addresses", "remove it from the uplink"),
        addresses=["198.51.100.10/32", V6],
    ),
    gateway_home(
        "forwarded-ipv6-on-uplink-after-normalization",
        "addresses",
        ("2001:db8:1::10 is also in homeMail.gateway.uplink.addresses",),
        addresses=[V4, "2001:0db8:0001::0010/128"],
    ),
    gateway(
        "forwarded-port-too-large", "forwardedPorts.tcp", ("1 to 65535",), forwardedPorts={"tcp": [25, 70000]}
    ),
    gateway(
        "forwarded-ports-not-a-list",
        "forwardedPorts.udp",
        ("not a list of ports",),
        forwardedPorts={"udp": "53"},
    ),
    gateway(
        "forwarded-port-repeated", "forwardedPorts.tcp", ("more than once",), forwardedPorts={"tcp": [25, 25]}
    ),
    gateway("mss-clamp-not-a-bool", "mssClamp", ("true or false",), mssClamp="yes"),
]

PAIR_CASES = [
    Case(
        "home-unknown-to-the-gateway",
        "pair",
        "homeMail.gateway.homes",
        ('has no home "cellar"', "add homes.cellar"),
        nix='{ inherit gateway home; homeName = "cellar"; }',
    ),
    Case(
        "home-address-not-forwarded",
        "pair",
        "homeMail.home.addresses",
        ("2001:db8:1::11 is not forwarded by the gateway", "homeMail.gateway.homes.home.addresses"),
        overrides={"gateway": {"homes": {"home": {"addresses": [V4]}}}},
    ),
    Case(
        "forwarded-address-not-held",
        "pair",
        "homeMail.gateway.homes.home.addresses",
        ("198.51.100.12 is forwarded to the home", "does not hold it"),
        overrides={"gateway": {"homes": {"home": {"addresses": [V4, V6, "198.51.100.12/32"]}}}},
    ),
    Case(
        "endpoint-not-a-gateway-address",
        "pair",
        "homeMail.home.gateway.endpoint",
        ("198.51.100.99 is not one of the gateway's addresses", "198.51.100.10"),
        overrides={"home": {"gateway": {"endpoint": "198.51.100.99:51820"}}},
    ),
    Case(
        "endpoint-port-not-listen-port",
        "pair",
        "homeMail.home.gateway.endpoint",
        ("port 51821", "listenPort (51820)"),
        overrides={"home": {"gateway": {"endpoint": "198.51.100.10:51821"}}},
    ),
    Case(
        "mtu-mismatch",
        "pair",
        "homeMail.home.wireguard.mtu",
        ("1500 differs", "(1420)", "same MTU"),
        overrides={"home": {"wireguard": {"mtu": 1500}}},
    ),
    Case(
        "open-port-not-forwarded",
        "pair",
        "homeMail.home.openPorts.tcp",
        ("port 993 is open at home but not in homeMail.gateway.forwardedPorts.tcp",),
        overrides={"gateway": {"forwardedPorts": {"tcp": [25, 80, 465]}}},
    ),
    Case(
        "forwarded-port-not-open",
        "pair",
        "homeMail.gateway.forwardedPorts.udp",
        ("port 53 is forwarded but not in homeMail.home.openPorts.udp",),
        overrides={"gateway": {"forwardedPorts": {"udp": [53]}}},
    ),
]

ALL_CASES = HOME_CASES + GATEWAY_CASES + WIREGUARD_CASES + PAIR_CASES
