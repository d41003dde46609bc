# The last step of every NixOS VM test (tests/vm/default.nix): the journals of the mail daemons
# hold no error or warning line that is not on the allow-list. The rules are those the lab reads
# its log files with: pkgs/mail-lab/src/mail_lab/lab/daemon_logs.py, run before this file (its
# `log_problems`). machines_by_name and shlex come from tests/scenarios/common.py.

# Daemon -> its units (journalctl --unit patterns) on the NixOS machines.
JOURNAL_UNITS: dict[str, list[str]] = {
    "postfix": ["postfix*.service"],
    "dovecot": ["dovecot*.service"],
    "rspamd": ["rspamd*.service"],
    "redis": ["redis-*.service"],
    "kresd": ["kresd@*.service"],
    "wireguard": ["wireguard-*.service", "home-mail-endpoints-*.service"],
    "acme": ["acme-*.service"],
}

with subtest("the mail daemons logged no error or warning that is not on the allow-list"):
    log_lines_found: list[str] = []
    for log_machine_name, log_machine in machines_by_name.items():
        for log_daemon, log_units in JOURNAL_UNITS.items():
            log_selection = " ".join(f"--unit {shlex.quote(unit)}" for unit in log_units)
            log_text = log_machine.succeed(f"journalctl --no-pager --output cat {log_selection}")
            log_lines_found += [
                f"{log_machine_name} {log_daemon}: {line}"
                for line in log_problems(log_daemon, log_text.splitlines())
            ]
    assert log_lines_found == [], "daemon log problems:\n" + "\n".join(log_lines_found)
