"""Read-only probes of the live machine, each with its own time limit."""

PROBE_TIMEOUT = 3.0  # seconds for one command, lookup or connection
