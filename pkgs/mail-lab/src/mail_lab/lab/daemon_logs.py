"""Error and warning lines of the mail daemons' logs, and the allow-list of harmless ones.

The daemons are postfix, dovecot, rspamd, redis, kresd, WireGuard and the ACME client (lego).
A line is a problem when its daemon's marker matches it (its own "warning:"/"Error:"/"[error]"
notation, or the service manager saying a unit failed) and no entry of ALLOWED_LOG_LINES for that
daemon matches it; each entry says why its lines are harmless.

One module for two users, like mail/headers.py: the lab's tests import it (tests/lab/conftest.py
reads each lab's log files after every test module) and the NixOS VM tests run its text before
tests/vm/daemon_logs.py, which reads each machine's journal at the end of the test. So it must
stay a plain script as well as a module: standard library only, no `from __future__` import, no
imports of the package, no names that clash with the drivers' globals (nor a second top-level
`import re` beside mail/headers.py's).
"""

# What systemd writes into a unit's journal when the unit fails.
UNIT_FAILURE = r"\.service: Failed with result|Failed to start "

# Daemon -> the pattern (re.search) of its error and warning lines.
PROBLEM_MARKERS: dict[str, str] = {
    # postfix/smtpd[123]: warning: ... (syslog), or the bare message in the journal.
    "postfix": r"(^|: )(warning|error|fatal|panic): ",
    # lmtp(alice@example.org)<...>: Error: ...
    "dovecot": r"(^|: )(Warning|Error|Fatal|Panic): ",
    # rspamd with log_severity: "... #123(main) <uid>; [warning] main; ..." (the lab), "... (warning) ..."
    "rspamd": r"[\[(](warning|error|critical)[\])]",
    # redis marks warnings with "#": "123:M 02 Dec 2026 16:45:37.476 # message".
    "redis": r"^[0-9]+:[A-Z] [0-9]+ [A-Za-z]+ [0-9]+ [0-9:.]+ # ",
    # kresd: "[system] warning: ...", "[taupd] error ...", "error: ..."
    "kresd": r"^(\[[a-z]+\] +)?(warning|error|critical|fatal)\b",
    # wireguard-go "ERROR: (wg0) ...", iproute2 "RTNETLINK answers: ...", wg "Unable to ...", "Error: ..."
    "wireguard": (
        r"^(ERROR|Error|error|Warning|warning)\b|RTNETLINK answers: |^Unable to |^Cannot |: (error|failed)\b"
    ),
    # lego: "2026/12/02 16:45:53 [WARN] ...", "[ERROR]", "[FATAL]"; its exit "error: ..." (its
    # [INFO] retries quote the ACME server's errors, which lego handles).
    "acme": r"\[(WARN|ERROR|FATAL)\]|^(error|Error): |Could not obtain certificates",
}

# (daemon, pattern, why it is harmless): a line of that daemon matching the pattern is no problem.
ALLOWED_LOG_LINES: list[tuple[str, str, str]] = [
    (
        "dovecot",
        r"Warning: Killed with signal 15 \(by pid=[0-9]+ uid=0 code=kill\)",
        "a stop or restart of dovecot (also by the namespace's) sends SIGTERM; its processes log it",
    ),
    (
        "dovecot",
        r"Warning: Shutting down logging for '[^']*' with [0-9]+ clients",
        "dovecot's log process, during the same SIGTERM shutdown, while its clients exit",
    ),
    (
        "dovecot",
        r"master: Warning: SIGHUP received - reloading configuration",
        "`doveadm reload` (systemctl reload dovecot) re-reads the configuration",
    ),
    (
        "rspamd",
        r"rspamd_map_dns_callback: cannot resolve maps\.rspamd\.com: ",
        "rspamd fetches rule maps from maps.rspamd.com; the test world has no internet (only"
        " documentation addresses), so the name does not resolve there; the rules it has still apply",
    ),
    (
        "rspamd",
        r"rspamd_controller_load_saved_stats: cannot load controller stats from \S+/stats\.ucl:"
        r" No such file or directory",
        "a new rspamd has saved no statistics yet (its controller writes them when it stops)",
    ),
    (
        "rspamd",
        r"symcache; save_items: cannot create file \S+/symbols\.cache\.new: No such file or directory",
        "the symbol cache only orders rspamd's rules by their measured cost and is rebuilt at the"
        " next start (which logs its absence at info level)",
    ),
    (
        "rspamd",
        r"rspamd_log_reset_repeated: Last message repeated [0-9]+ times",
        "rspamd's note that the line before it came again; that line is judged by itself",
    ),
    (
        "dovecot",
        r"auth: Error: (read\(anvil-auth-penalty\) failed: EOF"
        r"|net_connect_unix\(anvil-auth-penalty\) failed: Permission denied)$",
        "when dovecot stops, its anvil process exits before auth, which loses its connection to it"
        " (EOF) and, no longer privileged, cannot open it again; auth stops right after",
    ),
    (
        "redis",
        r"# (oO0OoO0OoO0Oo Redis is starting oO0OoO0OoO0Oo|Redis version=[^ ]+, .*just started"
        r"|Configuration loaded|Server initialized|User requested shutdown\.\.\."
        r"|Redis is now ready to exit, bye bye\.\.\.)$",
        "redis logs its normal start and stop at warning level",
    ),
    (
        "redis",
        r"# WARNING Memory overcommit must be enabled!",
        "vm.overcommit_memory is one setting of the whole kernel, which the lab must not change on"
        " its host; it matters only for background saves under memory pressure, and rspamd's few"
        " keys here are disposable",
    ),
    (
        "kresd",
        r"\[system\] warning: hard limit for number of file-descriptors is only [0-9]+"
        r" but recommended value is [0-9]+",
        "the recommendation is for a resolver of many clients; this one serves one namespace",
    ),
    (
        "wireguard",
        r"^ERROR: \([a-z0-9]+\) [0-9/: ]+Failed to load updated MTU of device:"
        r" failed to get MTU of TUN device: no such device",
        "wireguard-go notices the TUN device it serves being deleted when its interface unit stops",
    ),
    (
        "wireguard",
        r"^ERROR: \([a-z0-9]+\) [0-9/: ]+peer\([^)]*\) - Failed to send"
        r" (handshake initiation|data packets?): no known endpoint for peer$",
        "a packet routed into the tunnel before the peer's first handshake: the gateway learns a"
        " home's endpoint from the home's handshake (or its saved file) and drops what comes"
        " earlier; the fault tests prove the saved endpoint where it matters",
    ),
    (
        "postfix",
        r"warning: .*file system clock is [0-9]+ seconds? ahead",
        "the lab's spools are on the host's file system, whose clock the machine's hypervisor"
        " steps while postfix runs; postfix only notes the skew, no mail is affected",
    ),
    (
        "postfix",
        r"postfix/cleanup\[[0-9]+\]: warning: resetting file time stamps - this hurts performance$",
        "the same clock skew: cleanup finds a new queue file's time stamps not the ones it set and"
        " sets them again, a note about speed; the message is queued as usual (seen once in CI)",
    ),
]


def log_problems(daemon: str, lines: list[str]) -> list[str]:
    """The lines of `daemon`'s log that are errors or warnings and not allowed."""
    import re  # noqa: PLC0415 - see the module's docstring

    marker = re.compile(f"{PROBLEM_MARKERS[daemon]}|{UNIT_FAILURE}")
    allowed = [re.compile(pattern) for name, pattern, _ in ALLOWED_LOG_LINES if name == daemon]
    return [
        line for line in lines if marker.search(line) and not any(pattern.search(line) for pattern in allowed)
    ]
