"""The unit renderer (mail_lab.units.render) against NixOS's rendering (nixos/lib/systemd-lib.nix).

The expected texts are written out by NixOS's rules: serviceToUnit's layout ([Unit], a blank line,
[Service] with Environment= first, [Install] only with wantedBy), attrsToSection's name order and
one line per list item, makeJobScript's wrappers, generateUnits' drop-ins and links.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from mail_lab.units.render import (
    RenderContext,
    UnitRenderError,
    merge_definitions,
    render_services,
    script_name,
)

CONTEXT = RenderContext(
    upstream_units=frozenset({"systemd-journald.service"}),
    packages=frozenset({"coreutils", "findutils", "grep", "sed", "systemd", "wireguard-tools", "iproute2"}),
    package_root="/pkgs",
    default_path=("coreutils", "systemd"),
    script_dir="/scripts",
)
DEFAULT_PATH = "/pkgs/coreutils/bin:/pkgs/systemd/bin:/pkgs/coreutils/sbin:/pkgs/systemd/sbin"
UNITS = "/etc/systemd/system"

NETNS_TEMPLATE = {
    "before": ["network.target"],
    "description": "%i network namespace",
    "serviceConfig": {
        "Type": "oneshot",
        "RemainAfterExit": True,
        "ExecStartPre": ["-/usr/bin/ip netns delete %i"],
        "ExecStart": ["/usr/bin/ip netns add %i"],
        "ExecStartPost": ["/usr/bin/ip -n %i link set lo up"],
        "ExecStop": ["/usr/bin/ip netns delete %i"],
    },
}
NETNS_INSTANCE = {
    "overrideStrategy": "asDropin",
    "wantedBy": ["multi-user.target"],
    "serviceConfig": {
        "ExecStartPost": ['/usr/bin/nsenter "--net=/run/netns/wg" "--" /usr/sbin/nft "-f" "x"']
    },
}


def test_a_template_and_its_instance_drop_in() -> None:
    out = render_services({"netns@": [NETNS_TEMPLATE], "netns@wg": [NETNS_INSTANCE]}, CONTEXT)
    assert out.files[f"{UNITS}/netns@.service"] == (
        "[Unit]\n"
        "Before=network.target\n"
        "Description=%i network namespace\n"
        "\n"
        "[Service]\n"
        f'Environment="PATH={DEFAULT_PATH}"\n'
        "ExecStart=/usr/bin/ip netns add %i\n"
        "ExecStartPost=/usr/bin/ip -n %i link set lo up\n"
        "ExecStartPre=-/usr/bin/ip netns delete %i\n"
        "ExecStop=/usr/bin/ip netns delete %i\n"
        "RemainAfterExit=true\n"
        "Type=oneshot\n"
    )
    # asDropin: the instance is not a unit file of its own (which would hide the template).
    assert f"{UNITS}/netns@wg.service" not in out.files
    assert out.files[f"{UNITS}/netns@wg.service.d/overrides.conf"] == (
        "[Unit]\n"
        "\n"
        "[Service]\n"
        f'Environment="PATH={DEFAULT_PATH}"\n'
        'ExecStartPost=/usr/bin/nsenter "--net=/run/netns/wg" "--" /usr/sbin/nft "-f" "x"\n'
        "\n"
        "[Install]\n"
        "WantedBy=multi-user.target\n"
    )
    assert out.links == {f"{UNITS}/multi-user.target.wants/netns@wg.service": "../netns@wg.service"}


def test_without_as_dropin_an_instance_becomes_a_unit_file_that_hides_its_template() -> None:
    out = render_services(
        {"netns@wg": [{k: v for k, v in NETNS_INSTANCE.items() if k != "overrideStrategy"}]}
    )
    assert f"{UNITS}/netns@wg.service" in out.files


def test_as_dropin_if_exists_extends_only_systemds_own_units() -> None:
    out = render_services(
        {"systemd-journald": [{"serviceConfig": {"LogLevelMax": "info"}}], "mine": [{"description": "x"}]},
        CONTEXT,
    )
    assert f"{UNITS}/systemd-journald.service.d/overrides.conf" in out.files
    assert f"{UNITS}/mine.service" in out.files


def test_script_and_path_become_a_wrapper_and_the_services_path() -> None:
    out = render_services(
        {
            "home-mail-endpoints-wg0": [
                {
                    "path": ["wireguard-tools", "iproute2"],
                    "script": 'wg show wg0 endpoints > "$file"',
                    "scriptArgs": "",
                    "preStop": "echo stopping",
                    "postStop": "echo stopped",
                    "preStart": "mkdir -p /var/lib/home-mail",
                    "environment": {"WG_ENDPOINT_RESOLUTION_RETRIES": "infinity", "QUOTED": 'a "b"'},
                    "serviceConfig": {"Type": "simple"},
                }
            ]
        },
        CONTEXT,
    )
    start = f"/scripts/{script_name('home-mail-endpoints-wg0-start')}"
    assert out.files[start] == '#!/bin/bash\nset -e\n\nwg show wg0 endpoints > "$file"\n'
    assert start in out.executables
    path = (
        "/pkgs/wireguard-tools/bin:/pkgs/iproute2/bin:/pkgs/coreutils/bin:/pkgs/systemd/bin:"
        "/pkgs/wireguard-tools/sbin:/pkgs/iproute2/sbin:/pkgs/coreutils/sbin:/pkgs/systemd/sbin"
    )
    assert out.files[f"{UNITS}/home-mail-endpoints-wg0.service"] == (
        "[Unit]\n"
        "\n"
        "[Service]\n"
        f'Environment="PATH={path}"\n'
        'Environment="QUOTED=a \\"b\\""\n'
        'Environment="WG_ENDPOINT_RESOLUTION_RETRIES=infinity"\n'
        f"ExecStart={start} \n"  # wrapper + " " + scriptArgs, as NixOS writes it
        "ExecStartPre=/scripts/home-mail-endpoints-wg0-pre-start\n"
        "ExecStop=/scripts/home-mail-endpoints-wg0-pre-stop\n"
        "ExecStopPost=/scripts/home-mail-endpoints-wg0-post-stop\n"
        "Type=simple\n"
    )


def test_script_names_as_make_job_script_writes_them() -> None:
    assert script_name("kresd@-start") == "kresd_-start"
    assert script_name("a\\x2db-start") == "a-x2db-start"


def test_definitions_merge_as_the_module_system_merges_them() -> None:
    daemon = {
        "after": ["network.target"],
        "wantedBy": ["multi-user.target"],
        "script": "exec postfix start-fg",
        "serviceConfig": {"Type": "simple", "ReadWritePaths": "/var/spool/postfix"},
    }
    confinement = {
        "after": ["netns@wg.service"],
        "bindsTo": ["netns@wg.service"],
        "script": "# second line",
        "serviceConfig": {
            "NetworkNamespacePath": "/run/netns/wg",
            "Type": "simple",  # equal: fine
            "ReadWritePaths": ["/var/lib/postfix"],  # a list: both become one list
        },
    }
    merged = merge_definitions("postfix", [daemon, confinement])
    assert merged["after"] == ["network.target", "netns@wg.service"]
    assert merged["script"] == "exec postfix start-fg\n# second line"
    assert merged["serviceConfig"]["ReadWritePaths"] == ["/var/spool/postfix", "/var/lib/postfix"]
    text = render_services({"postfix": [daemon, confinement]}, CONTEXT).files[f"{UNITS}/postfix.service"]
    assert "After=network.target netns@wg.service\nBindsTo=netns@wg.service\n" in text
    assert "ReadWritePaths=/var/spool/postfix\nReadWritePaths=/var/lib/postfix\n" in text


def test_conflicting_single_values_are_an_error_naming_the_option() -> None:
    with pytest.raises(
        UnitRenderError, match=r"systemd\.services\.postfix\.serviceConfig\.Type has conflicting"
    ):
        merge_definitions(
            "postfix", [{"serviceConfig": {"Type": "simple"}}, {"serviceConfig": {"Type": "forking"}}]
        )
    # A script's ExecStart plus a scalar ExecStart conflict as in NixOS.
    with pytest.raises(UnitRenderError, match=r"serviceConfig\.ExecStart has conflicting"):
        render_services({"x": [{"script": "true", "serviceConfig": {"ExecStart": "/bin/false"}}]}, CONTEXT)
    # ... while a list ExecStart adds to it (systemd then runs both, for Type=oneshot).
    text = render_services(
        {"x": [{"script": "true", "serviceConfig": {"Type": "oneshot", "ExecStart": ["/bin/false"]}}]},
        CONTEXT,
    ).files[f"{UNITS}/x.service"]
    assert "ExecStart=/scripts/x-start \nExecStart=/bin/false\n" in text


def test_what_nixos_rejects_is_rejected_with_the_option_named() -> None:
    with pytest.raises(UnitRenderError, match=r"systemd\.services\.x: startAt not supported"):
        render_services({"x": [{"startAt": "daily"}]}, CONTEXT)
    with pytest.raises(UnitRenderError, match=r"serviceConfig\.Type: 'sometimes' is not one of"):
        render_services({"x": [{"serviceConfig": {"Type": "sometimes"}}]}, CONTEXT)
    with pytest.raises(UnitRenderError, match=r"overrideStrategy: 'asOverride'"):
        render_services({"x": [{"overrideStrategy": "asOverride"}]}, CONTEXT)
    with pytest.raises(UnitRenderError, match=r"x\.path: 'nosuchpackage' .*machine-packages\.txt"):
        render_services({"x": [{"path": ["nosuchpackage"]}]}, CONTEXT)


def test_disabled_units_links_and_aliases() -> None:
    out = render_services(
        {
            "off": [{"enable": False, "wantedBy": ["multi-user.target"]}],
            "peer": [
                {
                    "requiredBy": ["wireguard-wg0.service"],
                    "upheldBy": ["netns@wg.service"],
                    "aliases": ["p.service"],
                }
            ],
        },
        CONTEXT,
    )
    assert out.links[f"{UNITS}/off.service"] == "/dev/null"
    assert f"{UNITS}/off.service" not in out.files
    assert out.links[f"{UNITS}/wireguard-wg0.service.requires/peer.service"] == "../peer.service"
    assert out.links[f"{UNITS}/netns@wg.service.upholds/peer.service"] == "../peer.service"
    assert out.links[f"{UNITS}/p.service"] == "peer.service"


def test_install_writes_files_modes_and_links(tmp_path: Path) -> None:
    out = render_services(
        {"netns@": [NETNS_TEMPLATE], "netns@wg": [NETNS_INSTANCE], "s": [{"script": "true"}]}, CONTEXT
    )
    out.install(tmp_path)
    out.install(tmp_path)  # again: replaces, does not fail on existing links
    assert (tmp_path / "etc/systemd/system/netns@.service").read_text().startswith("[Unit]\n")
    assert (
        os.readlink(tmp_path / "etc/systemd/system/multi-user.target.wants/netns@wg.service")
        == "../netns@wg.service"
    )
    assert (tmp_path / "scripts/s-start").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "etc/systemd/system/s.service").stat().st_mode & 0o777 == 0o644
