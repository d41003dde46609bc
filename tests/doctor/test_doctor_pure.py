"""The doctor's pure parts, without a lab: plan input, report rendering, records, classification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from home_mail_doctor import classify, cli, plan, records, report
from home_mail_doctor.probes import wireguard
from home_mail_doctor.report import Check, Status


def doctor_file(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "role": "home",
        "plan": {"role": "home", "addresses": {"ipv4": ["198.51.100.11"], "ipv6": ["2001:db8:1::11"]}},
        "mailName": "mail.example.org",
        "domains": ["example.org"],
        "dkim": None,
        "dnsbl": ["zen.spamhaus.org"],
        "limits": {"handshakeWarn": 180, "handshakeFail": 300, "certificateWarnDays": 14, "queueWarnAge": 60},
        "outsideAddresses": {"ipv4": "192.0.2.1", "ipv6": "2001:db8::1"},
    }
    data.update(changes)
    return data


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "no plan file; enable homeMail.gateway or homeMail.home"),
        ("{not json", "not JSON"),
        (json.dumps(doctor_file(role="router")), "unknown role 'router'"),
        (json.dumps({"role": "home"}), "missing plan, mailName"),
        (json.dumps(doctor_file(limits={})), "malformed"),
        (json.dumps(doctor_file(mailName=None)), "set homeMail.doctor.mailName and homeMail.doctor.domains"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str | None, message: str
) -> None:
    path = tmp_path / "plan.json"
    if content is not None:
        path.write_text(content)
    assert cli.main(["--plan", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err, err


def test_unreadable_plan_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A plan path that cannot be read (here a directory: root reads any file) is one line, exit 2."""
    assert cli.main(["--plan", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "cannot read the plan" in err and "Traceback" not in err, err


def test_not_root_is_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "plan.json"
    path.write_text(json.dumps(doctor_file()))
    monkeypatch.setattr("os.geteuid", lambda: 1000)
    assert cli.main(["--plan", str(path)]) == 2
    assert "must run as root" in capsys.readouterr().err


def test_exit_codes_and_fix_lines() -> None:
    good = report.ok("a", "x", "x")
    warn = Check("b", Status.WARN, "y", "x", "do this")
    fail = Check("c", Status.FAIL, "z", "x", "do that")
    assert report.exit_code([good]) == 0
    assert report.exit_code([good, warn]) == 1
    assert report.exit_code([good, warn, fail]) == 2
    table = report.render_table("home", [good, warn, fail])
    assert table.splitlines()[-1] == "1 ok, 1 warn, 1 fail, 0 skipped"
    assert [line.strip() for line in table.splitlines() if "fix:" in line] == ["fix: do this", "fix: do that"]
    parsed = json.loads(report.render_json("home", [good, fail]))
    assert parsed["exitCode"] == 2 and parsed["checks"][1] == {
        "name": "c",
        "status": "fail",
        "saw": "z",
        "expects": "x",
        "fix": "do that",
    }
    with pytest.raises(ValueError, match="needs a fix line"):
        Check("d", Status.FAIL, "z", "x")


@pytest.mark.parametrize(
    ("answers", "status"),
    [
        ([], Status.OK),
        (["127.0.0.2"], Status.FAIL),
        (["127.0.0.11"], Status.FAIL),
        (["127.255.255.254"], Status.WARN),
        (["127.255.255.252", "127.0.0.4"], Status.WARN),
        (["127.0.1.2"], Status.WARN),
    ],
)
def test_dnsbl_answers(answers: list[str], status: Status) -> None:
    assert classify.dnsbl_answer(answers).status is status


def test_dnsbl_query_names() -> None:
    assert classify.dnsbl_query_name("198.51.100.11", "zen.spamhaus.org") == "11.100.51.198.zen.spamhaus.org"
    assert classify.dnsbl_query_name("2001:db8::1", "z.test").endswith(".8.b.d.0.1.0.0.2.z.test")
    assert classify.dnsbl_query_name("2001:db8::1", "z.test").startswith("1.0.0.0.")


@pytest.mark.parametrize(
    ("age", "status"), [(None, Status.FAIL), (10, Status.OK), (181, Status.WARN), (301, Status.FAIL)]
)
def test_handshake_ages(age: int | None, status: Status) -> None:
    assert classify.handshake_status(age, 180, 300) is status


@pytest.mark.parametrize(("result", "authorized"), [("pass", True), ("softfail", False), ("neutral", False)])
def test_spf_results(result: str, authorized: bool) -> None:
    assert classify.spf_authorizes(result) is authorized


def test_wg_dump_parsing() -> None:
    dump = (
        "PRIV\tPUB\t51820\toff\n"
        "KEY=\t(none)\t203.0.113.20:4000\t198.51.100.11/32,2001:db8:1::11/128\t1700000000\t10\t20\toff\n"
        "OTHER=\t(none)\t(none)\t(none)\t0\t0\t0\t25\n"
    )
    first, second = wireguard.parse_dump(dump)
    assert first.endpoint == "203.0.113.20:4000" and first.allowed_ips == (
        "198.51.100.11/32",
        "2001:db8:1::11/128",
    )
    assert second.endpoint is None and second.allowed_ips == () and second.latest_handshake == 0


def test_records_from_the_plan_and_the_key(tmp_path: Path) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = tmp_path / "dkim.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    doctor = plan.parse(doctor_file(dkim={"selector": "mail", "keyFile": str(key_file)}), "test")
    lines = [line for line in records.render(doctor).splitlines() if not line.startswith(";")]
    assert lines[:4] == [
        "mail.example.org. 3600 IN A 198.51.100.11",
        "mail.example.org. 3600 IN AAAA 2001:db8:1::11",
        "example.org. 3600 IN MX 10 mail.example.org.",
        'example.org. 3600 IN TXT "v=spf1 ip4:198.51.100.11 ip6:2001:db8:1::11 -all"',
    ]
    assert lines[4].startswith('mail._domainkey.example.org. 3600 IN TXT "v=DKIM1; k=rsa; p=MIIBIjAN')
    # A 2048-bit key's record is longer than one TXT string: split into 255-byte strings.
    assert '" "' in lines[4]
    assert lines[5:] == [
        '_dmarc.example.org. 3600 IN TXT "v=DMARC1; p=reject; adkim=r; aspf=r"',
        "11.100.51.198.in-addr.arpa. 3600 IN PTR mail.example.org.",
        "1.1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 3600 IN PTR "
        "mail.example.org.",
    ]


def test_records_without_the_key_say_where_to_run() -> None:
    doctor = plan.parse(doctor_file(dkim={"selector": "mail", "keyFile": "/nonexistent/key"}), "test")
    text = records.render(doctor)
    assert "_domainkey" not in text and "run `home-mail-doctor records` at home" in text
