# Inbound: the internet reaches home's mail server on the forwarded public addresses, unchanged.
wait_for_world()

for family in ("ipv4", "ipv6"):
    with subtest(f"inbound over {family}: remote's MTA delivers to home's public address"):
        message_id = send_smtp(
            remote,
            address=PUBLIC_ADDRESSES[family],
            sender=BOB,
            recipient=ALICE,
            tag=f"inbound-{family}",
            helo=REMOTE_FQDN,
        )
        message = imap_fetch(client, address=PUBLIC_ADDRESSES[family], account=ALICE, message_id=message_id)
        peers = received_peers(message)
        # No NAT: home's postfix recorded the remote's own address, not the gateway's.
        assert peers and peers[0] == REMOTE_ADDRESSES[family], f"home saw {peers}, not the remote"
        gateway_own = [address.split("/")[0] for address in GATEWAY_PLAN["uplink"]["addresses"]]
        assert not set(peers) & set(gateway_own), f"the gateway's address appears in {peers}"

with subtest("inbound through DNS: remote's postfix finds home by its MX record"):
    message_id = send_smtp(
        remote, address="127.0.0.1", sender=BOB, recipient=ALICE, tag="inbound-mx", helo=REMOTE_FQDN
    )
    message = imap_fetch(client, address=PUBLIC_IPV4, account=ALICE, message_id=message_id)
    assert set(received_peers(message)) & set(REMOTE_ADDRESSES.values()), received_peers(message)

# The end of the happy path: the doctor finds nothing to fix on either side.
assert_doctor_all_ok()
