"""What the receiving side recorded in a delivered message: header values, the Authentication-Results
verdicts (spf=, dkim=, dmarc=) and the peer addresses of the Received headers.

One module for two users: `mail_lab.mail.flow` imports it, and the scenario scripts get it as
globals, because both drivers run this file's text before tests/scenarios/common.py (the VM tests'
testScript in tests/vm/default.nix, the lab's `mail_lab.driver.run_script`). So it must stay a
plain script as well as a module: standard library only, no `from __future__` import, no imports
of the package, no names that clash with the drivers' globals.
"""

import email
import email.policy
import re


def header_values(message: str, name: str) -> list[str]:
    """All values of header `name` in `message`, in order (topmost first), folded lines joined."""
    parsed = email.message_from_string(message, policy=email.policy.compat32)
    return [re.sub(r"\s+", " ", str(value)).strip() for value in parsed.get_all(name, [])]


def authentication_results(message: str) -> dict[str, str]:
    """{method: result} for spf, dkim, dmarc from the topmost Authentication-Results that has it."""
    verdicts: dict[str, str] = {}
    for value in header_values(message, "Authentication-Results"):
        for method, result in re.findall(r"(?:^|[;\s])(spf|dkim|dmarc)=([a-z]+)", value):
            verdicts.setdefault(method, result)
    return verdicts


def received_peers(message: str) -> list[str]:
    """The peer address each Received header recorded (`from name [address]`), newest first."""
    peers: list[str] = []
    for value in header_values(message, "Received"):
        match = re.search(r"\(\S* ?\[(?:IPv6:)?([0-9A-Fa-f:.]+)\]\)", value)
        if match:
            peers.append(match.group(1))
    return peers
