"""The DNS zones of the virtual internet as zone files, written from the topology's `dns`.

tests/dns.nix computes every record of every zone once (the VM tests write the same list,
tests/vm/zones.nix). Two things are the lab's own: the SOA serial (the time the zones are
written) and the DKIM keys (generated at run time, services/dkim.py), whose public halves fill
the records that name them (`dkimKeyOf`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from mail_lab.services.dkim import DkimKey

# TXT character-strings are at most 255 bytes; longer texts are split into several.
TXT_CHUNK = 255
# SOA data: mname rname serial refresh retry expire minimum.
SOA_SERIAL_FIELD = 2


def txt_data(text: str) -> str:
    chunks = [text[start : start + TXT_CHUNK] for start in range(0, len(text), TXT_CHUNK)]
    return " ".join('"' + chunk.replace("\\", "\\\\").replace('"', '\\"') + '"' for chunk in chunks)


def dkim_domains(dns: Mapping[str, Any]) -> list[str]:
    """The domains whose DKIM keys the zones publish."""
    return sorted({r["dkimKeyOf"] for records in dns["zones"].values() for r in records if "dkimKeyOf" in r})


def record_data(record: Mapping[str, Any], keys: Mapping[str, DkimKey], serial: int) -> str:
    if "dkimKeyOf" in record:
        return txt_data(keys[record["dkimKeyOf"]].record_text)
    data = str(record["data"])
    if record["type"] == "SOA":
        fields = data.split()
        fields[SOA_SERIAL_FIELD] = str(serial)
        return " ".join(fields)
    return data


def zone_texts(
    dns: Mapping[str, Any], keys: Mapping[str, DkimKey], serial: int | None = None
) -> dict[str, str]:
    """Zone name -> zone file text, for every zone of `dns` (the topology's)."""
    serial = serial if serial is not None else int(time.time())
    return {
        zone: "".join(
            f"{r['name']}. {dns['ttl']} IN {r['type']} {record_data(r, keys, serial)}\n" for r in records
        )
        for zone, records in dns["zones"].items()
    }
