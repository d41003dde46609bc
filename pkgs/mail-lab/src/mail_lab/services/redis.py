"""redis for rspamd (redis-rspamd.service): a unix socket only, no TCP port at all.

Only redis and rspamd may reach the socket: its directory belongs to redis with rspamd's group
and mode 750, so the socket itself can be world-writable (redis gives it no group of our choice).
Nothing is persisted (no RDB, no AOF): the lab's statistics start empty on every bring-up.
"""

from __future__ import annotations

from mail_lab.units.unit import Unit

UNIT_NAME = "redis-rspamd.service"
SOCKET_DIR = "/run/redis-rspamd"
SOCKET = f"{SOCKET_DIR}/redis.sock"
USER = "redis"
CLIENT_GROUP = "_rspamd"
OPTIONS = {
    "port": "0",
    "unixsocket": SOCKET,
    "unixsocketperm": "777",
    "dir": SOCKET_DIR,
    "daemonize": "no",
    "supervised": "no",
    "save": "",
    "appendonly": "no",
    "logfile": "",
}


def redis_unit() -> Unit:
    options = [word for name, value in OPTIONS.items() for word in (f"--{name}", value)]
    # Drop to redis with setpriv (not Unit.user), so that the pre-start step runs as root.
    drop_privileges = ["setpriv", "--reuid", USER, "--regid", USER, "--init-groups", "--"]
    return Unit(
        name=UNIT_NAME,
        type="simple",
        exec_start_pre=[
            ["install", "-d", "-o", USER, "-g", CLIENT_GROUP, "-m", "0750", SOCKET_DIR],
            ["rm", "-f", SOCKET],
        ],
        exec_start=[[*drop_privileges, "redis-server", *options]],
        ready=f"redis-cli -s {SOCKET} ping | grep -qx PONG",
    )
