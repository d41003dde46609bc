# Outbound: a client submits to home, which signs and delivers from the forwarded addresses.
wait_for_world()

for family in ("ipv4", "ipv6"):
    with subtest(f"outbound over {family}: submission on 465, DKIM-signed delivery to the remote"):
        message_id = send_smtp(
            client,
            address=PUBLIC_ADDRESSES[family],
            sender=ALICE,
            recipient=remote_recipient(family),
            tag=f"outbound-{family}",
            helo="client.example.net",
            port=465,
            login=ALICE,
            tls_name=HOME_FQDN,
        )
        message = wait_for_maildir_message(remote, REMOTE_MAILDIR, message_id)
        verdicts = authentication_results(message)
        assert verdicts == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}, verdicts
        peers = received_peers(message)
        # The remote saw the forwarded public address, never the home's ISP line.
        assert peers and peers[0] == PUBLIC_ADDRESSES[family], f"remote saw {peers}"
        assert HOME_ISP_ADDRESSES[family] not in peers, f"the ISP address leaked into {peers}"
