"""Deliberate bugs in lib/, each of which some test must catch (tests/mutations/harness.py).

A mutation replaces one exact snippet of a file (it must occur exactly once, so a mutation whose
code has changed fails loudly instead of silently mutating nothing) and names the fast tests that
must catch it (run in CI, tests/mutations/test_mutations.py) and the lab tests that must catch it
too when the harness is run with --lab. Add one for each new check.
"""

from __future__ import annotations

from dataclasses import dataclass

PACKETS = "tests/nix/test_rulesets_as_packets.py"
GATEWAY_PACKETS = (
    f"{PACKETS}::test_the_gateway_lets_through_exactly_the_forwarded_ports_and_addresses[test-world]"
)
HOME_PACKETS = f"{PACKETS}::test_the_home_namespace_accepts_exactly_the_open_ports[test-world]"
TWO_HOMES_PACKETS = (
    f"{PACKETS}::test_the_gateway_lets_through_exactly_the_forwarded_ports_and_addresses"
    "[no-mss-clamp-udp-and-two-homes]"
)
PLAN = "tests/nix/test_plan.py"
SECURITY = "tests/lab/test_security.py"


@dataclass(frozen=True)
class Mutation:
    name: str
    path: str
    old: str
    new: str
    fast_tests: tuple[str, ...]
    lab_tests: tuple[str, ...] = ()


MUTATIONS: tuple[Mutation, ...] = (
    Mutation(
        "gateway forwards 8080 (extra open port)",
        "lib/nftables.nix",
        '"ct state established,related accept"\n            # A home may only send',
        '"ct state established,related accept"\n            "oifname ${wg} tcp dport 8080 accept"\n'
        "            # A home may only send",
        (GATEWAY_PACKETS,),
        (f"{SECURITY}::test_the_gateway_alone_stops_the_ports_it_does_not_forward",),
    ),
    Mutation(
        "namespace accepts 8080 (extra open port)",
        "lib/nftables.nix",
        '"meta l4proto { icmp, ipv6-icmp } accept"',
        '"meta l4proto { icmp, ipv6-icmp } accept"\n            "tcp dport 8080 accept"',
        (HOME_PACKETS,),
        (f"{SECURITY}::test_the_namespace_alone_stops_the_ports_that_are_not_open",),
    ),
    Mutation(
        "home may send from any IPv4 address (widened source set)",
        "lib/nftables.nix",
        '"iifname ${wg} oifname != ${wg} ip saddr @forwarded_ipv4 accept"',
        '"iifname ${wg} oifname != ${wg} meta nfproto ipv4 accept"',
        (GATEWAY_PACKETS,),
        (f"{SECURITY}::test_the_gateway_alone_lets_home_send_only_from_its_forwarded_addresses",),
    ),
    Mutation(
        "home may send from any IPv6 address (widened source set)",
        "lib/nftables.nix",
        '"iifname ${wg} oifname != ${wg} ip6 saddr @forwarded_ipv6 accept"',
        '"iifname ${wg} oifname != ${wg} meta nfproto ipv6 accept"',
        (GATEWAY_PACKETS,),
        (f"{SECURITY}::test_the_gateway_alone_lets_home_send_only_from_its_forwarded_addresses",),
    ),
    Mutation(
        "mail ports open to any address routed into the tunnel (widened destination set)",
        "lib/nftables.nix",
        'portRules "oifname ${wg} ip daddr @forwarded_ipv4 " ports "accept"',
        'portRules "oifname ${wg} meta nfproto ipv4 " ports "accept"',
        (GATEWAY_PACKETS,),
    ),
    Mutation(
        "ICMP to any address routed into the tunnel",
        "lib/nftables.nix",
        '"oifname ${wg} ip6 daddr @forwarded_ipv6 icmpv6 type',
        '"oifname ${wg} icmpv6 type',
        (GATEWAY_PACKETS,),
    ),
    Mutation(
        "gateway's final drop missing",
        "lib/nftables.nix",
        '"counter drop"\n          ]\n        );',
        '"counter accept"\n          ]\n        );',
        (GATEWAY_PACKETS,),
        (f"{SECURITY}::test_the_gateway_alone_stops_the_ports_it_does_not_forward",),
    ),
    Mutation(
        "namespace's final drop missing",
        "lib/nftables.nix",
        '++ [ "counter drop" ]',
        '++ [ "counter accept" ]',
        (HOME_PACKETS,),
        (f"{SECURITY}::test_the_namespace_alone_stops_the_ports_that_are_not_open",),
    ),
    Mutation(
        "namespace forwards packets (forward policy accept)",
        "lib/nftables.nix",
        'chain "forward" [ "type filter hook forward priority filter; policy drop;" ]',
        'chain "forward" [ "type filter hook forward priority filter; policy accept;" ]',
        (f"{PLAN}::test_home_namespace_ruleset_loads_in_nft[test-world]",),
    ),
    Mutation(
        "MSS clamp removed",
        "lib/nftables.nix",
        "if mssClamp then",
        "if false then",
        (GATEWAY_PACKETS,),
        (f"{SECURITY}::test_the_gateway_clamps_the_mss_both_ways",),
    ),
    Mutation(
        "MSS clamp of home's IPv4 SYNs 20 bytes too large",
        "lib/nftables.nix",
        "mssIPv4 = mtu - 40;",
        "mssIPv4 = mtu - 20;",
        (GATEWAY_PACKETS,),
        (f"{SECURITY}::test_the_gateway_clamps_the_mss_both_ways",),
    ),
    Mutation(
        "a second home may reach every port of the first",
        "lib/nftables.nix",
        '"iifname ${wg} oifname != ${wg} ip saddr @forwarded_ipv4 accept"',
        '"iifname ${wg} ip saddr @forwarded_ipv4 accept"',
        (TWO_HOMES_PACKETS,),
    ),
    Mutation(
        "wrong allowed IPs of a home (a /24 instead of its /32s)",
        "lib/gateway.nix",
        "allowedIPs = (forwardedOf name).cidrs;",
        'allowedIPs = map (cidr: builtins.replaceStrings [ "/32" ] [ "/24" ] cidr) (forwardedOf name).cidrs;',
        (f"{PLAN}::test_gateway_plan_forwards_the_homes_addresses",),
    ),
    Mutation(
        "dropped proxy neighbour",
        "lib/gateway.nix",
        "}) forwardedIPv6;",
        "}) (builtins.tail forwardedIPv6);",
        (f"{PLAN}::test_gateway_plan_forwards_the_homes_addresses",),
    ),
    Mutation(
        "gateway does not forward IPv6",
        "lib/gateway.nix",
        '"net.ipv6.conf.all.forwarding" = 1;',
        '"net.ipv6.conf.all.forwarding" = 0;',
        (f"{PLAN}::test_gateway_sysctls_enable_forwarding_and_neighbour_proxies",),
    ),
    Mutation(
        "missing IPv6 default route in the namespace",
        "lib/home.nix",
        '          [\n            "0.0.0.0/0"\n            "::/0"\n          ];',
        '          [\n            "0.0.0.0/0"\n          ];',
        (f"{PLAN}::test_home_plan_tunnel",),
    ),
    Mutation(
        "namespace routes between its interfaces",
        "lib/home.nix",
        '"net.ipv4.conf.all.forwarding" = 0;',
        '"net.ipv4.conf.all.forwarding" = 1;',
        (f"{PLAN}::test_home_plan_namespace",),
    ),
    Mutation(
        "nscd left reachable",
        "lib/confine.nix",
        'InaccessiblePaths = [ "-/run/nscd" ];',
        "InaccessiblePaths = [ ];",
        (f"{PLAN}::test_home_plan_units",),
    ),
    Mutation(
        "resolv.conf not bound",
        "lib/confine.nix",
        'BindReadOnlyPaths = [ "${(netns namespace).files.resolvConf}:/etc/resolv.conf" ];',
        "BindReadOnlyPaths = [ ];",
        (f"{PLAN}::test_home_plan_units",),
    ),
    Mutation(
        "confined services not bound to the namespace",
        "lib/confine.nix",
        "bindsTo = [ unit ];",
        "bindsTo = [ ];",
        (f"{PLAN}::test_home_plan_units",),
    ),
)
