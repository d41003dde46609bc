# Isolation: the home's own traffic keeps using the ISP; the namespace only knows the tunnel.
wait_for_world()

with subtest("home's default namespace keeps its ISP routes and cannot use port 25"):
    assert "via" in home.succeed("ip -4 route show default"), "home lost its IPv4 ISP route"
    assert "via" in home.succeed("ip -6 route show default"), "home lost its IPv6 ISP route"
    dns = WORLD["internet"]["dns"]
    for family, address in REMOTE_ADDRESSES.items():
        flag = "-4" if family == "ipv4" else "-6"
        # The ISP drops port 25 both ways (curl times out: exit 28) ...
        home.succeed(
            f"rc=0; curl {flag} --silent --max-time 5 --globoff telnet://{url_host(address)}:25 "
            "</dev/null || rc=$?; test $rc -eq 28"
        )
        # ... while other TCP ports on the internet stay reachable (the DNS server's port 53).
        home.succeed(f"nc -z -w 5 {dns[family]} 53")

with subtest(f"namespace {NAMESPACE} has only lo and {WG_INTERFACE}, and only routes through it"):
    links = home.succeed(in_namespace("ip -o link show")).splitlines()
    names = sorted(line.split(":")[1].strip().split("@")[0] for line in links)
    assert names == sorted(["lo", WG_INTERFACE]), names
    for family in ("-4", "-6"):
        for route in home.succeed(in_namespace(f"ip {family} route show table all")).splitlines():
            words = route.split()
            device = words[words.index("dev") + 1] if "dev" in words else None
            assert device in ("lo", WG_INTERFACE), f"unexpected route in {NAMESPACE}: {route}"

with subtest("new connections from the namespace use the forwarded addresses as source"):
    for family, address in REMOTE_ADDRESSES.items():
        route = home.succeed(in_namespace(f"ip route get {address}"))
        assert f"src {PUBLIC_ADDRESSES[family]}" in route, route

with subtest("the namespace holds no address but the forwarded ones: no wrong source is possible"):
    # The seed's bug: with another global IPv6 address beside the forwarded /128, replies and new
    # connections could leave from it. Here the forwarded /32 and /128 are the only ones.
    for family, flag in (("ipv4", "-4"), ("ipv6", "-6")):
        shown = home.succeed(in_namespace(f"ip -o {flag} addr show scope global")).splitlines()
        addresses = sorted(line.split()[3] for line in shown)
        prefix = "32" if family == "ipv4" else "128"
        assert addresses == [f"{PUBLIC_ADDRESSES[family]}/{prefix}"], (
            f"{family} addresses in {NAMESPACE}: {addresses}"
        )

with subtest("replies to the internet come from the forwarded addresses"):
    for family, address in PUBLIC_ADDRESSES.items():
        # The banner arrives only if home's reply leaves from the address the remote connected to.
        banner = remote.succeed(f"nc -w 5 {address} 25 </dev/null | head -n 1")
        assert banner.startswith("220 "), f"no SMTP banner from {address} over {family}: {banner!r}"
