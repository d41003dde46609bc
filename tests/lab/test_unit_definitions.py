"""The lab's Unit as a NixOS definition (mail_lab.units.definitions), rendered by the one renderer."""

from __future__ import annotations

import os
import subprocess

import pytest

from mail_lab.units.definitions import (
    UnitDefinitionError,
    definition,
    definitions,
    exec_line,
    target_definitions,
)
from mail_lab.units.render import RenderContext, render_services
from mail_lab.units.unit import Unit

PROGRAMS = {
    "sh": "/p/dash/bin/sh",
    "redis-server": "/p/redis-server/bin/redis-server",
    "redis-cli": "/p/redis-tools/bin/redis-cli",
    "setpriv": "/p/util-linux/bin/setpriv",
    "grep": "/p/grep/bin/grep",
}


def test_arguments_are_literal_for_systemd() -> None:
    line = exec_line(["-sh", "-c", 'echo "$HOME" 100% \\ done'], PROGRAMS, "x.service")
    assert line == '-/p/dash/bin/sh "-c" "echo \\"$$HOME\\" 100%% \\\\ done"'


def test_a_multi_line_script_stays_on_one_exec_line() -> None:
    line = exec_line(["sh", "-c", "set -eu\necho done"], PROGRAMS, "x.service")
    assert line == '/p/dash/bin/sh "-c" "set -eu\\necho done"'
    assert "\n" not in line


def test_a_program_outside_the_tree_is_named() -> None:
    with pytest.raises(UnitDefinitionError, match=r"x\.service: program 'nope' .*machine-packages\.txt"):
        exec_line(["nope"], PROGRAMS, "x.service")


def test_a_daemon_unit_becomes_a_nixos_definition() -> None:
    unit = Unit(
        name="redis-rspamd",
        exec_start=[["setpriv", "--reuid", "redis", "--", "redis-server", "--port", "0"]],
        ready="redis-cli -s /run/r.sock ping | grep -qx PONG",
        ready_timeout=2.0,
        after=["network.target"],
        network_namespace_path="/run/netns/wg",
    )
    service = definition(unit, PROGRAMS)
    assert service["serviceConfig"]["ExecStart"] == [
        '/p/util-linux/bin/setpriv "--reuid" "redis" "--" "redis-server" "--port" "0"'
    ]
    assert service["serviceConfig"]["NetworkNamespacePath"] == "/run/netns/wg"
    assert service["wantedBy"] == ["multi-user.target"]
    # Every program named: setpriv's, the one after "--", those of the readiness probe.
    assert service["path"] == ["grep", "redis-server", "redis-tools", "util-linux"]
    assert Unit(name="t", type="oneshot", start_at_boot=False).name == "t.service"
    assert "wantedBy" not in definition(Unit(name="t", type="oneshot", start_at_boot=False), PROGRAMS)
    packages = frozenset({"grep", "redis-server", "redis-tools", "util-linux", "coreutils", "systemd"})
    context = RenderContext(packages=packages, default_path=("coreutils",), script_dir="/s")
    out = render_services({"redis-rspamd": [service]}, context)
    assert (
        "ExecStartPost=/s/redis-rspamd-post-start\n" in out.files["/etc/systemd/system/redis-rspamd.service"]
    )


def test_the_readiness_wait_is_bounded_and_says_what_failed() -> None:
    unit = Unit(name="slow", exec_start=[["sh", "-c", "true"]], ready="false", ready_timeout=0.3)
    script = "set -e\n" + definition(unit, PROGRAMS)["postStart"]
    result = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=10, check=False)
    assert result.returncode == 1
    assert "slow.service not ready after 0 s" in result.stderr
    # The main process died (a port in use): the wait ends then, not after its 60 s (the run's
    # timeout of 30 s would fail the test).
    dead = subprocess.Popen(["true"])
    dead.wait(timeout=10)
    stuck = Unit(name="dead", exec_start=[["sh", "-c", "true"]], ready="false", ready_timeout=60)
    result = subprocess.run(
        ["bash", "-c", "set -e\n" + definition(stuck, PROGRAMS)["postStart"]],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
        env={**os.environ, "MAINPID": str(dead.pid)},
    )
    assert (result.returncode, result.stderr.strip()) == (1, "dead.service exited before it was ready")
    ready = Unit(name="quick", exec_start=[["sh", "-c", "true"]], ready="true")
    assert (
        subprocess.run(
            ["bash", "-c", "set -e\n" + definition(ready, PROGRAMS)["postStart"]], check=False
        ).returncode
        == 0
    )


def test_a_template_instance_takes_nixos_shape_a_template_drop_in_and_a_target() -> None:
    unit = Unit(name="redis@1.service", exec_start=[["redis-server", "--port", "0"]])
    services = definitions([unit], PROGRAMS)
    assert list(services) == ["redis@"]
    template = services["redis@"][0]
    assert template["overrideStrategy"] == "asDropin"
    assert "wantedBy" not in template
    # The template's own ExecStart= is reset before the lab's.
    assert template["serviceConfig"]["ExecStart"][0] == ""
    context = RenderContext(packages=frozenset({"redis-server", "coreutils"}), default_path=("coreutils",))
    out = render_services(services, context, target_definitions([unit]))
    target = out.files["/etc/systemd/system/redis.target.d/overrides.conf"]
    assert "Wants=redis@1.service\n" in target
    assert out.links["/etc/systemd/system/multi-user.target.wants/redis.target"] == "../redis.target"
    assert not any("redis@" in link for link in out.links)
    assert target_definitions([Unit(name="x", exec_start=[["redis-server"]])]) == {}
