# Restart, stop and start of the namespace: every confined service ends up in the new namespace.
wait_for_world()

NAMESPACE_UNIT = HOME_PLAN["namespace"]["unit"]
# The resolver in the namespace is knot-resolver 5 (services.kresd: kresd@1.service, the lab's and
# what simple-nixos-mailserver enabled so far) or knot-resolver 6 (services.knot-resolver:
# knot-resolver.service): whichever of them runs, whatever the plan's units name.
RESOLVER_UNITS = ["kresd@1.service", "knot-resolver.service"]
# `is-active` of several units succeeds once any of them is active.
home.wait_until_succeeds(f"systemctl is-active {' '.join(RESOLVER_UNITS)}", timeout=60)
running_resolvers = [unit for unit in RESOLVER_UNITS if home.execute(f"systemctl is-active {unit}")[0] == 0]


def long_running_confined_units() -> list[str]:
    """The plan's confined units that have a main process (an ACME order is a oneshot), and the
    resolver that runs."""
    confined = [
        f"{name}.service"
        for name, unit in HOME_PLAN["units"].items()
        if "NetworkNamespacePath" in unit.get("serviceConfig", {})
        and not name.endswith("@")
        and f"{name}.service" not in RESOLVER_UNITS
    ]
    return [
        unit
        for unit in confined
        if home.succeed(f"systemctl show --property Type --value {shlex.quote(unit)}").strip() != "oneshot"
    ] + running_resolvers


CONFINED_UNITS = long_running_confined_units()


# A mark on the old namespace's loopback (no address the plan uses): a recreated namespace has
# none. The namespace's inode number alone cannot tell: once the old namespace is freed (a stop
# ends every process in it), the kernel may give the new one the same number.
OLD_NAMESPACE_MARK = "127.0.0.254"


def mark_the_namespace() -> str:
    """Marks the namespace as the old one; returns its inode (`net:[N]`)."""
    home.succeed(in_namespace(f"ip address add {OLD_NAMESPACE_MARK}/32 dev lo"))
    return home.succeed(in_namespace("readlink /proc/self/ns/net")).strip()


def assert_all_in_a_new_namespace(old_namespace: str) -> None:
    for unit in [*CONFINED_UNITS, WIREGUARD_UNIT]:
        home.wait_for_unit(unit)
    loopback = home.succeed(in_namespace("ip -o address show dev lo"))
    assert f" {OLD_NAMESPACE_MARK}/32 " not in loopback, "the namespace was not recreated"
    new_namespace = home.succeed(in_namespace("readlink /proc/self/ns/net")).strip()
    for unit in CONFINED_UNITS:
        pid = main_pid(home, unit)
        assert namespace_inode(home, pid) == new_namespace, f"{unit} runs outside the new namespace"
    if new_namespace == old_namespace:
        # Its number was given again, so the old namespace is gone: nothing can be left in it.
        return
    stale = home.succeed(
        f"for ns in /proc/[0-9]*/ns/net; do [ \"$(readlink $ns 2>/dev/null)\" = '{old_namespace}' ] "
        "&& echo $ns; done; true"
    )
    assert stale.strip() == "", f"processes left in the old namespace: {stale}"


def assert_mail_flows(tag: str) -> None:
    wait_for_world()
    for family, address in PUBLIC_ADDRESSES.items():
        message_id = send_smtp(
            remote, address=address, sender=BOB, recipient=ALICE, tag=f"{tag}-{family}", helo=REMOTE_FQDN
        )
        imap_fetch(client, address=address, account=ALICE, message_id=message_id)


assert CONFINED_UNITS, "the plan confines no long-running unit"

with subtest(f"restarting {NAMESPACE_UNIT} moves every confined service into the new namespace"):
    old_namespace = mark_the_namespace()
    home.succeed(f"systemctl restart {NAMESPACE_UNIT}")
    assert_all_in_a_new_namespace(old_namespace)

with subtest("mail flows again after the restart, over IPv4 and IPv6"):
    assert_mail_flows("after-restart")

with subtest(f"stopping {NAMESPACE_UNIT} stops every confined unit and the tunnel"):
    old_namespace = mark_the_namespace()
    home.succeed(f"systemctl stop {NAMESPACE_UNIT}")
    for unit in [*CONFINED_UNITS, WIREGUARD_UNIT]:
        state = home.succeed(f"systemctl show --property ActiveState --value {shlex.quote(unit)}").strip()
        assert state in ("inactive", "failed"), f"{unit} is {state} with its namespace stopped"

with subtest(f"starting {NAMESPACE_UNIT} again starts every confined unit in the new namespace"):
    home.succeed(f"systemctl start {NAMESPACE_UNIT}")
    assert_all_in_a_new_namespace(old_namespace)

with subtest("mail flows again after the stop and the start, over IPv4 and IPv6"):
    assert_mail_flows("after-stop-start")
