#!/bin/sh
# Regenerates the snakeoil material of the NixOS VM tests (tests/vm/secrets). TEST ONLY: these
# keys are public in this repository; never use them anywhere else.
#   ca.pem                      the test world's CA, trusted by every VM (security.pki)
#   mail.example.org.{pem,key}  home's TLS certificate for postfix and dovecot
#   acme.example.net.{pem,key}  the TLS certificate of the internet's ACME server (pebble)
#   <domain>.mail.key / .txt    DKIM keys (selector "mail") and the p= value of their DNS record
set -eu
cd "$(dirname "$0")"
umask 022
days=36500

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$days" \
  -subj "/CN=home-mail test world CA (snakeoil)" -keyout ca.key -out ca.pem \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign"

issue() {
  name=$1
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$name" \
    -keyout "$name.key" -out "$name.csr"
  printf 'subjectAltName=DNS:%s\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' "$name" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days "$days" \
    -extfile "$name.ext" -out "$name.pem"
  rm -f "$name.csr" "$name.ext"
}
issue mail.example.org
issue acme.example.net
rm -f ca.srl

for domain in example.org example.net; do
  openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$domain.mail.key"
  openssl pkey -in "$domain.mail.key" -pubout -outform DER | base64 -w0 > "$domain.mail.txt"
done
chmod 0644 ./*.key  # snakeoil, copied to the world-readable store anyway
# Nothing needs the CA key after issuing; regenerate everything to issue more.
rm -f ca.key
