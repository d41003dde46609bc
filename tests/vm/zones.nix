# The zones of the internet's authoritative name server as zone files: the records of
# tests/dns.nix (the lab writes the same list, pkgs/mail-lab/src/mail_lab/services/zones.py), each
# DKIM record with the public key of the VM tests' fixed test key of its domain (secrets).
{
  lib,
  topology,
  secrets,
}:
let
  inherit (topology) dns;

  # TXT character-strings hold at most 255 bytes.
  txtData =
    text:
    lib.concatMapStringsSep " " builtins.toJSON (
      lib.genList (index: builtins.substring (index * 255) 255 text) (
        (builtins.stringLength text + 254) / 255
      )
    );

  data =
    record:
    if record ? dkimKeyOf then
      txtData "v=DKIM1; k=rsa; p=${secrets.dkimPublicKey record.dkimKeyOf}"
    else
      record.data;

  line = record: "${record.name}. ${toString dns.ttl} IN ${record.type} ${data record}\n";
in
lib.mapAttrs (_: lib.concatMapStrings line) dns.zones
