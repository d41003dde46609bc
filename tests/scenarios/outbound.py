# Outbound: a client submits to home, which signs and delivers from the forwarded addresses, to
# every domain of the remote: each over the address families of its MX host.
wait_for_world()

for domain, entry in REMOTE_DOMAINS.items():
    families = entry["families"]
    with subtest(
        f"outbound to {domain} ({' and '.join(families)}): DKIM-signed delivery from the forwarded address"
    ):
        message_id = send_smtp(
            client,
            address=PUBLIC_ADDRESSES[families[0]],
            sender=ALICE,
            recipient=remote_recipient(domain),
            tag=f"outbound-{domain}",
            helo="client.example.net",
            port=465,
            login=ALICE,
            tls_name=HOME_FQDN,
        )
        message = wait_for_maildir_message(remote, REMOTE_MAILDIR, message_id)
        verdicts = authentication_results(message)
        assert verdicts == {"spf": "pass", "dkim": "pass", "dmarc": "pass"}, verdicts
        peers = received_peers(message)
        # The remote saw a forwarded public address of the domain's families, never the ISP line.
        allowed = [PUBLIC_ADDRESSES[family] for family in families]
        assert peers and peers[0] in allowed, f"remote saw {peers}, expected one of {allowed}"
        assert not set(HOME_ISP_ADDRESSES.values()) & set(peers), f"the ISP address leaked into {peers}"

# The end of the happy path: the doctor finds nothing to fix on either side.
assert_doctor_all_ok()
