# ACME: home gets a certificate for its public mail name from the internet's ACME server (pebble)
# over HTTP-01. lego answers the challenge on port 80 inside `wg`, so pebble's request can only
# come in through the gateway and the tunnel.

ACME = WORLD["internet"]["acme"]
ACME_ORDER_UNIT = f"acme-order-renew-{HOME_FQDN}.service"
CERTIFICATE_DIR = f"/var/lib/acme/{HOME_FQDN}"
# lego's certificates for this name: without them, the next start orders anew instead of renewing.
LEGO_CERTIFICATE_STATE = f"/var/lib/acme/.lego/{HOME_FQDN}"
ORDER_TIMEOUT = 180
PROBE_TABLE = "scenario_acme_probe"
# Counts what comes in by the tunnel to port 80 inside the namespace; it judges nothing.
PROBE = f"""table inet {PROBE_TABLE} {{
  chain input {{
    type filter hook input priority -200; policy accept;
    iifname "{WG_INTERFACE}" tcp dport 80 counter
  }}
}}
"""
PEBBLE_ROOT = "/tmp/scenario-acme-pebble-root.pem"


def acme_management(path: str, output: str = "-") -> str:
    """GET `path` from pebble's management interface, from home's own line, TLS verified."""
    port = ACME["managementPort"]
    resolve = shlex.quote(f"{ACME['name']}:{port}:{ACME['ipv4']}")
    url = shlex.quote(f"https://{ACME['name']}:{port}{path}")
    return home.succeed(
        f"curl --silent --show-error --fail --max-time 10 --resolve {resolve} --output {output} {url}"
    )


def openssl_x509(option: str) -> str:
    return home.succeed(f"openssl x509 -noout {option} -in {CERTIFICATE_DIR}/cert.pem").strip()


wait_for_world()

with subtest("pebble on the internet validates every order for real"):
    internet.wait_for_unit("pebble.service")
    pebble = main_pid(internet, "pebble.service")
    environment = internet.succeed(f"tr '\\0' '\\n' < /proc/{pebble}/environ").splitlines()
    assert "PEBBLE_VA_NOSLEEP=1" in environment, f"not pebble's environment: {environment}"
    assert not [v for v in environment if v.startswith("PEBBLE_VA_ALWAYS_VALID=")], environment
    # A reused authorization would let an order through without any HTTP-01 request.
    assert "PEBBLE_AUTHZREUSE=0" in environment, environment

with subtest(f"home orders {HOME_FQDN}: pebble's HTTP-01 request comes in through {WG_INTERFACE}"):
    # An order made at boot would turn this start into a no-op renewal: forget it.
    home.succeed(f"systemctl stop {ACME_ORDER_UNIT}", f"rm -rf {LEGO_CERTIFICATE_STATE}")
    home.succeed(in_namespace(f"printf %s {shlex.quote(PROBE)} | nft -f -"))
    try:
        home.succeed(f"systemctl start {ACME_ORDER_UNIT}", timeout=ORDER_TIMEOUT)
        probe = home.succeed(in_namespace(f"nft list table inet {PROBE_TABLE}"))
    finally:
        home.execute(in_namespace(f"nft delete table inet {PROBE_TABLE}"))
    packets = [int(n) for n in re.findall(r"counter packets (\d+)", probe)]
    assert packets and packets[0] > 0, f"no request to port 80 came in by {WG_INTERFACE}:\n{probe}"

with subtest(f"the certificate names {HOME_FQDN} only and home holds its key"):
    names = re.findall(r"DNS:([^,\s]+)", openssl_x509("-ext subjectAltName"))
    assert names == [HOME_FQDN], f"certificate names: {names}"
    certificate_key = home.succeed(f"openssl x509 -noout -pubkey -in {CERTIFICATE_DIR}/cert.pem")
    assert certificate_key == home.succeed(f"openssl pkey -pubout -in {CERTIFICATE_DIR}/key.pem")

with subtest("pebble issued it: the chain leads to pebble's root and pebble knows the serial"):
    issuer = openssl_x509("-issuer")
    assert "Pebble Intermediate CA" in issuer, issuer
    acme_management("/roots/0", output=PEBBLE_ROOT)
    home.succeed(
        f"openssl verify -CAfile {PEBBLE_ROOT} -untrusted {CERTIFICATE_DIR}/chain.pem "
        f"-verify_hostname {HOME_FQDN} {CERTIFICATE_DIR}/cert.pem"
    )
    serial = openssl_x509("-serial").split("=", 1)[1].lower().lstrip("0")
    status = json.loads(acme_management(f"/cert-status-by-serial/{serial}"))
    assert status["Status"] == "Valid", status
    leaf = home.succeed(f"openssl x509 -in {CERTIFICATE_DIR}/cert.pem").strip()
    assert status["Certificate"].strip() == leaf, "pebble's certificate of that serial differs"
