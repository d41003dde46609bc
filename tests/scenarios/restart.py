# Restart: recreating the namespace restarts every confined service into the new namespace.
wait_for_world()

# The resolver in the namespace is knot-resolver 5 (services.kresd: kresd@1.service, the lab's and
# what simple-nixos-mailserver enabled so far) or knot-resolver 6 (services.knot-resolver:
# knot-resolver.service): whichever of them runs.
RESOLVER_UNITS = ["kresd@1.service", "knot-resolver.service"]
# `is-active` of several units succeeds once any of them is active.
home.wait_until_succeeds(f"systemctl is-active {' '.join(RESOLVER_UNITS)}", timeout=60)
running_resolvers = [unit for unit in RESOLVER_UNITS if home.execute(f"systemctl is-active {unit}")[0] == 0]
# The long-running confined daemons (the ACME order is a oneshot started by its timer).
CONFINED_UNITS = ["postfix.service", "dovecot.service", *running_resolvers]

with subtest(f"restarting netns@{NAMESPACE} moves every confined service into the new namespace"):
    old_namespace = home.succeed(in_namespace("readlink /proc/self/ns/net")).strip()
    home.succeed(f"systemctl restart netns@{NAMESPACE}.service")
    for unit in CONFINED_UNITS:
        home.wait_for_unit(unit)
    new_namespace = home.succeed(in_namespace("readlink /proc/self/ns/net")).strip()
    assert new_namespace != old_namespace, "the namespace was not recreated"
    for unit in CONFINED_UNITS:
        pid = main_pid(home, unit)
        assert namespace_inode(home, pid) == new_namespace, f"{unit} runs outside the new namespace"
    stale = home.succeed(
        f"for ns in /proc/[0-9]*/ns/net; do [ \"$(readlink $ns 2>/dev/null)\" = '{old_namespace}' ] "
        "&& echo $ns; done; true"
    )
    assert stale.strip() == "", f"processes left in the old namespace: {stale}"

with subtest("mail flows again after the restart"):
    wait_for_world()
    message_id = send_smtp(
        remote, address=PUBLIC_IPV4, sender=BOB, recipient=ALICE, tag="after-restart", helo=REMOTE_FQDN
    )
    imap_fetch(client, address=PUBLIC_IPV4, account=ALICE, message_id=message_id)
