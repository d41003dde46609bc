"""NixOS `systemd.services` definitions rendered to unit files, the way NixOS renders them.

The input is what NixOS modules write: per service name (`"postfix"`, the template `"kresd@"`,
the instance `"netns@wg"`) one or more definitions, as plain data. They are merged as the module
system merges `systemd.services.<name>` (lists concatenated, `lines` joined, `serviceConfig` and
`unitConfig` by systemd-unit-options.nix's `unitOption`: any list makes the value a list,
otherwise all definitions must agree), then rendered as nixos/lib/systemd-lib.nix does:

- `[Unit]`: `after`, `wants`, `bindsTo`, ... as space-separated settings, `description`, and
  `unitConfig`; `[Service]`: one `Environment=` per variable (sorted, JSON-quoted), `PATH` from
  `path` (`<p>/bin` for each, then `<p>/sbin` for each, the default path appended), then
  `serviceConfig`; `[Install] WantedBy=` when `wantedBy` is set. Settings in name order; a list
  value is one line per item.
- `script` becomes `ExecStart=<wrapper> <scriptArgs>`, a bash script starting with `set -e`;
  `preStart`/`postStart` become `ExecStartPre`/`ExecStartPost` wrappers, `reload`, `preStop` and
  `postStop` `ExecReload`/`ExecStop`/`ExecStopPost`.
- `overrideStrategy = "asDropin"` writes `<unit>.d/overrides.conf` (a template's instance, such as
  `netns@wg`, takes the template's settings plus its own); the default `asDropinIfExists` does the
  same only for a unit systemd itself ships, and writes the unit file otherwise.
- `systemd.targets` definitions render the same way with only their unit options.
- `wantedBy`, `requiredBy`, `upheldBy` become `.wants`/`.requires`/`.upholds` links, `aliases`
  links to the unit, `enable = false` a link to /dev/null.

On NixOS the wrappers and `path` entries are store paths; in a lab machine the wrappers live in
`script_dir` and a `path` entry names a Debian package, whose programs the tree links under
`<package_root>/<package>/{bin,sbin}` (mail_lab.machine.rootfs), so a service finds only the programs of
the packages on its `path`, as on NixOS.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

UNIT_DIR = "/etc/systemd/system"
LIST_OPTIONS = (
    "after",
    "before",
    "wants",
    "requires",
    "bindsTo",
    "partOf",
    "conflicts",
    "requisite",
    "upholds",
    "onFailure",
    "onSuccess",
    "documentation",
    "wantedBy",
    "requiredBy",
    "upheldBy",
    "aliases",
    "path",
)
# Unit options of NixOS rendered into [Unit] as space-separated lists, and their setting names.
UNIT_LIST_SETTINGS = {
    "requires": "Requires",
    "wants": "Wants",
    "upholds": "Upholds",
    "after": "After",
    "before": "Before",
    "bindsTo": "BindsTo",
    "partOf": "PartOf",
    "conflicts": "Conflicts",
    "requisite": "Requisite",
    "documentation": "Documentation",
    "onFailure": "OnFailure",
    "onSuccess": "OnSuccess",
}
SCRIPT_OPTIONS = ("script", "preStart", "postStart", "reload", "preStop", "postStop")
SINGLE_OPTIONS = (
    "description",
    "scriptArgs",
    "overrideStrategy",
    "enable",
    "restartIfChanged",
    "stopIfChanged",
    "reloadIfChanged",
    "startLimitIntervalSec",
    "startLimitBurst",
)
ATTRS_OPTIONS = ("environment", "serviceConfig", "unitConfig")
OVERRIDE_STRATEGIES = ("asDropinIfExists", "asDropin")
# systemd-unit-options.nix's checkService.
SERVICE_TYPES = ("exec", "simple", "forking", "oneshot", "dbus", "notify", "notify-reload", "idle")
RESTART_VALUES = ("no", "on-success", "on-failure", "on-abnormal", "on-abort", "always")
# stage2ServiceConfig's default path (coreutils, findutils, gnugrep, gnused, systemd) as Debian
# packages.
DEFAULT_PATH = ("coreutils", "findutils", "grep", "sed", "systemd")


class UnitRenderError(ValueError):
    """A definition NixOS would reject (or the lab cannot render); the message names the option."""


@dataclass(frozen=True)
class RenderContext:
    # Units systemd itself ships (the tree's systemd package): `asDropinIfExists` extends them.
    upstream_units: frozenset[str] = frozenset()
    # Debian packages a `path` entry may name (those of the machines' tree).
    packages: frozenset[str] | None = None
    package_root: str = "/usr/lib/mail-lab/packages"
    default_path: tuple[str, ...] = DEFAULT_PATH
    script_dir: str = "/etc/mail-lab/unit-scripts"
    shell: str = "/bin/bash"

    def package_prefix(self, package: str, service: str) -> str:
        if self.packages is not None and package not in self.packages:
            raise UnitRenderError(
                f"systemd.services.{service}.path: {package!r} is not a package of the machines' tree;"
                " add it to pkgs/mail-lab/machine-packages.txt"
            )
        return f"{self.package_root}/{package}"


@dataclass
class RenderedUnits:
    """Files to write inside a machine: unit files, drop-ins, scripts (absolute paths), and links."""

    files: dict[str, str] = field(default_factory=dict)
    executables: set[str] = field(default_factory=set)
    links: dict[str, str] = field(default_factory=dict)

    def install(self, root: Path) -> None:
        """Write everything below `root` (a machine's root as seen from the host)."""
        for path, text in sorted(self.files.items()):
            target = root / path.lstrip("/")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text)
            target.chmod(0o755 if path in self.executables else 0o644)
        for path, destination in sorted(self.links.items()):
            link = root / path.lstrip("/")
            link.parent.mkdir(parents=True, exist_ok=True)
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(destination)


def _equal(location: str, values: Sequence[Any]) -> Any:
    """The module system's mergeEqualOption: every definition must give the same value."""
    if any(value != values[0] for value in values[1:]):
        shown = ", ".join(json.dumps(value) for value in values)
        raise UnitRenderError(f"{location} has conflicting definitions: {shown}")
    return values[0]


def _unit_option(location: str, values: Sequence[Any]) -> Any:
    """systemd-unit-options.nix's unitOption merge."""
    if any(isinstance(value, list) for value in values):
        return [item for value in values for item in (value if isinstance(value, list) else [value])]
    return _equal(location, values)


def merge_definitions(name: str, definitions: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """The definitions of `systemd.services.<name>` merged into one, as the module system does."""
    collected: dict[str, list[Any]] = {}
    for definition in definitions:
        for key, value in definition.items():
            collected.setdefault(key, []).append(value)
    merged: dict[str, Any] = {}
    unknown = sorted(set(collected) - {*LIST_OPTIONS, *SCRIPT_OPTIONS, *SINGLE_OPTIONS, *ATTRS_OPTIONS})
    if unknown:
        raise UnitRenderError(
            f"systemd.services.{name}: {', '.join(unknown)} not supported by the lab's unit renderer"
        )
    for key, values in collected.items():
        location = f"systemd.services.{name}.{key}"
        if key in LIST_OPTIONS:
            if not all(isinstance(value, list) for value in values):
                raise UnitRenderError(f"{location} must be a list")
            merged[key] = [item for value in values for item in value]
        elif key in SCRIPT_OPTIONS:
            merged[key] = "\n".join(values)
        elif key in SINGLE_OPTIONS:
            merged[key] = _equal(location, values)
        else:
            merged[key] = {}
            for attribute in dict.fromkeys(a for value in values for a in value):
                present = [value[attribute] for value in values if attribute in value]
                merge = _equal if key == "environment" else _unit_option
                merged[key][attribute] = merge(f"{location}.{attribute}", present)
    return merged


def script_name(name: str) -> str:
    """makeJobScript's file name: `\\` becomes `-` and `@` becomes `_`."""
    return name.replace("\\", "-").replace("@", "_")


def _option_text(value: Any) -> str:
    """systemd-lib.nix's toOption."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    return str(value)


def _section(settings: Mapping[str, Any]) -> str:
    """systemd-lib.nix's attrsToSection: name order, one line per item of a list."""
    lines = []
    for key in sorted(settings):
        value = settings[key]
        for item in value if isinstance(value, list) else [value]:
            lines.append(f"{key}={_option_text(item)}\n")
    return "".join(lines)


def _check_service(name: str, service: Mapping[str, Any]) -> None:
    for key, allowed in (("Type", SERVICE_TYPES), ("Restart", RESTART_VALUES)):
        if key in service and service[key] not in allowed:
            raise UnitRenderError(
                f"systemd.services.{name}.serviceConfig.{key}: {service[key]!r} is not one of"
                f" {', '.join(allowed)}"
            )


class _Renderer:
    def __init__(self, context: RenderContext):
        self.context = context
        self.out = RenderedUnits()

    def _script(self, name: str, text: str) -> str:
        path = str(PurePosixPath(self.context.script_dir) / script_name(name))
        self.out.files[path] = f"#!{self.context.shell}\nset -e\n\n{text}\n"
        self.out.executables.add(path)
        return path

    def _service_config(self, name: str, service: Mapping[str, Any]) -> dict[str, Any]:
        """serviceConfig with the script options' wrappers merged in (unitOption rule)."""
        generated: dict[str, Any] = {}
        if service.get("preStart"):
            generated["ExecStartPre"] = [self._script(f"{name}-pre-start", service["preStart"])]
        if service.get("script"):
            wrapper = self._script(f"{name}-start", service["script"])
            generated["ExecStart"] = f"{wrapper} {service.get('scriptArgs', '')}"
        if service.get("postStart"):
            generated["ExecStartPost"] = [self._script(f"{name}-post-start", service["postStart"])]
        if service.get("reload"):
            generated["ExecReload"] = self._script(f"{name}-reload", service["reload"])
        if service.get("preStop"):
            generated["ExecStop"] = self._script(f"{name}-pre-stop", service["preStop"])
        if service.get("postStop"):
            generated["ExecStopPost"] = self._script(f"{name}-post-stop", service["postStop"])
        own = dict(service.get("serviceConfig", {}))
        config = dict(own)
        for key, value in generated.items():
            values = [value, own[key]] if key in own else [value]
            config[key] = _unit_option(f"systemd.services.{name}.serviceConfig.{key}", values)
        _check_service(name, config)
        return config

    def _unit_config(self, name: str, service: Mapping[str, Any]) -> dict[str, Any]:
        generated: dict[str, Any] = {
            setting: " ".join(service[option])
            for option, setting in UNIT_LIST_SETTINGS.items()
            if service.get(option)
        }
        if service.get("description"):
            generated["Description"] = service["description"]
        if "startLimitIntervalSec" in service:
            generated["StartLimitIntervalSec"] = str(service["startLimitIntervalSec"])
        if "startLimitBurst" in service:
            generated["StartLimitBurst"] = str(service["startLimitBurst"])
        config = dict(generated)
        for key, value in service.get("unitConfig", {}).items():
            values = [generated[key], value] if key in generated else [value]
            config[key] = _unit_option(f"systemd.services.{name}.unitConfig.{key}", values)
        return config

    def _environment(self, name: str, service: Mapping[str, Any]) -> dict[str, str | None]:
        declared = service.get("environment", {})
        environment: dict[str, str | None] = {
            key: None if value is None else str(value) for key, value in declared.items()
        }
        path = [*service.get("path", []), *self.context.default_path]
        prefixes = [self.context.package_prefix(entry, name) for entry in path]
        search_path = ":".join([f"{p}/bin" for p in prefixes] + [f"{p}/sbin" for p in prefixes])
        if "PATH" in environment and environment["PATH"] != search_path:
            raise UnitRenderError(
                f"systemd.services.{name}.environment.PATH conflicts with the one `path` gives; use `path`"
            )
        environment["PATH"] = search_path
        return environment

    def text(self, name: str, service: Mapping[str, Any]) -> str:
        """serviceToUnit's text."""
        body = "[Service]\n"
        environment = self._environment(name, service)
        for key in sorted(environment):
            value = environment[key]
            if value is not None:
                body += f"Environment={json.dumps(f'{key}={value}', ensure_ascii=False)}\n"
        if service.get("reloadIfChanged"):
            body += "X-ReloadIfChanged=true\n"
        elif service.get("restartIfChanged") is False:
            body += "X-RestartIfChanged=false\n"
        if service.get("stopIfChanged") is False:
            body += "X-StopIfChanged=false\n"
        body += _section(self._service_config(name, service))
        text = f"[Unit]\n{_section(self._unit_config(name, service))}\n{body}"
        if service.get("wantedBy"):
            text += f"\n[Install]\nWantedBy={' '.join(service['wantedBy'])}\n"
        return text

    def target_text(self, name: str, target: Mapping[str, Any]) -> str:
        """targetToUnit's text: the unit options only."""
        text = f"[Unit]\n{_section(self._unit_config(name, target))}"
        if target.get("wantedBy"):
            text += f"\n[Install]\nWantedBy={' '.join(target['wantedBy'])}\n"
        return text

    def add(self, name: str, service: Mapping[str, Any], kind: str = "service") -> None:
        unit = f"{name}.{kind}"
        strategy = service.get("overrideStrategy", "asDropinIfExists")
        if strategy not in OVERRIDE_STRATEGIES:
            raise UnitRenderError(
                f"systemd.services.{name}.overrideStrategy: {strategy!r} is not one of"
                f" {', '.join(OVERRIDE_STRATEGIES)}"
            )
        units = PurePosixPath(UNIT_DIR)
        if service.get("enable", True) is False:
            self.out.links[str(units / unit)] = "/dev/null"
        else:
            dropin = strategy == "asDropin" or unit in self.context.upstream_units
            path = units / f"{unit}.d" / "overrides.conf" if dropin else units / unit
            render = self.text if kind == "service" else self.target_text
            self.out.files[str(path)] = render(name, service)
        for option, suffix in (("wantedBy", "wants"), ("requiredBy", "requires"), ("upheldBy", "upholds")):
            for wanting in service.get(option, []):
                self.out.links[str(units / f"{wanting}.{suffix}" / unit)] = f"../{unit}"
        for alias in service.get("aliases", []):
            self.out.links[str(units / alias)] = unit


def render_services(
    services: Mapping[str, Sequence[Mapping[str, Any]]],
    context: RenderContext | None = None,
    targets: Mapping[str, Sequence[Mapping[str, Any]]] | None = None,
) -> RenderedUnits:
    """Every service's (and `systemd.targets`') definitions merged and rendered: the files of
    `/etc/systemd/system`."""
    renderer = _Renderer(context or RenderContext())
    for name in sorted(services):
        renderer.add(name, merge_definitions(name, services[name]))
    for name, definitions in sorted((targets or {}).items()):
        target = merge_definitions(name, definitions)
        unsupported = sorted(set(target) - {*LIST_OPTIONS, "description", "overrideStrategy", "unitConfig"})
        if unsupported:
            raise UnitRenderError(f"systemd.targets.{name}: {', '.join(unsupported)} is not a target option")
        renderer.add(name, target, kind="target")
    return renderer.out


def upstream_units(tree: Path) -> frozenset[str]:
    """The unit files the tree's systemd package ships (what NixOS counts as upstream units)."""
    listing = tree / "var/lib/dpkg/info/systemd.list"
    names = set()
    for line in listing.read_text().splitlines():
        directory, unit = os.path.split(line)
        if directory.endswith("/lib/systemd/system") and "." in unit:
            names.add(unit)
    return frozenset(names)
