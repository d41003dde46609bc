"""Merging a plan's `units` (NixOS `systemd.services` fragments) onto the lab's units.

A plan key names a service the way `systemd.services` does: `"postfix"` is postfix.service,
`"kresd@"` is the template that applies to every `kresd@<instance>.service`, `"netns@wg"` is an
instance. As in systemd, a fragment is a drop-in: lists (dependencies, Exec* commands, paths) are
appended, single values replaced. An instance that only the plan knows (`netns@wg`) is built from
its template, and a service that only the plan knows is built from its fragment if that has an
ExecStart= (the gateway's endpoint saver). `wantedBy` adds the unit to the Wants= of a unit of the
machine (targets are reached anyway). Specifiers %i, %I, %n, %N and %p are expanded.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from mail_lab.units import Unit, unit_name

# Fragment attribute -> Unit field, lists appended.
LIST_ATTRIBUTES = {
    "after": "after",
    "wants": "wants",
    "requires": "requires",
    "bindsTo": "binds_to",
    "partOf": "part_of",
}
COMMAND_SETTINGS = {
    "ExecStartPre": "exec_start_pre",
    "ExecStart": "exec_start",
    "ExecStartPost": "exec_start_post",
    "ExecStop": "exec_stop",
    "ExecStopPost": "exec_stop_post",
}
PATH_SETTINGS = {
    "BindReadOnlyPaths": "bind_read_only_paths",
    "BindPaths": "bind_paths",
    "InaccessiblePaths": "inaccessible_paths",
}
# Settings that change nothing the lab does: when a unit is enabled, or how NixOS switches; the
# packages on `path` (the unit manager runs every command with the lab's own PATH).
IGNORED_ATTRIBUTES = frozenset(
    {
        "path",
        "requiredBy",
        "overrideStrategy",
        "documentation",
        "restartIfChanged",
        "stopIfChanged",
        "reloadIfChanged",
        "enable",
    }
)


class PlanUnitError(ValueError):
    """A plan fragment uses a setting the lab cannot honour (so it would behave differently)."""


@dataclass
class MergeResult:
    units: list[Unit]
    # Plan keys that matched no unit of the lab (e.g. a confined service the lab does not run).
    unmatched: list[str] = field(default_factory=list)


def _split_instance(name: str) -> tuple[str, str] | None:
    """`kresd@1.service` -> ("kresd@", "1"); None for a unit that is not an instance."""
    stem = name.removesuffix(".service")
    if "@" not in stem or stem.endswith("@"):
        return None
    prefix, instance = stem.split("@", 1)
    return f"{prefix}@", instance


def _expand(value: Any, specifiers: Mapping[str, str]) -> Any:
    if isinstance(value, str):
        out, index = [], 0
        while index < len(value):
            if value[index] == "%" and index + 1 < len(value):
                key = value[index + 1]
                if key == "%":
                    out.append("%")
                elif key in specifiers:
                    out.append(specifiers[key])
                else:
                    raise PlanUnitError(f"unsupported specifier %{key} in {value!r}")
                index += 2
            else:
                out.append(value[index])
                index += 1
        return "".join(out)
    if isinstance(value, list):
        return [_expand(item, specifiers) for item in value]
    if isinstance(value, dict):
        return {key: _expand(item, specifiers) for key, item in value.items()}
    return value


def _specifiers(name: str) -> dict[str, str]:
    stem = name.removesuffix(".service")
    split = _split_instance(name)
    instance = split[1] if split else ""
    return {"n": name, "N": stem, "p": stem.split("@", 1)[0], "i": instance, "I": instance.replace("-", "/")}


def _commands(key: str, value: Any) -> list[list[str]]:
    if isinstance(value, list) and all(isinstance(c, list) for c in value):
        return [list(map(str, c)) for c in value]
    if isinstance(value, list) and all(isinstance(c, str) for c in value) and value:
        return [list(value)]
    raise PlanUnitError(f"{key}: expected a list of argument lists, got {value!r}")


@dataclass
class _Reverse:
    """What a fragment says about other units: those it comes before and those that want it."""

    before: list[str] = field(default_factory=list)
    wanted_by: list[str] = field(default_factory=list)


def _apply(unit: dict[str, Any], fragment: Mapping[str, Any], origin: str) -> _Reverse:
    """Apply one fragment to `unit` (Unit fields as a dict); returns what it says of other units."""
    reverse = _Reverse()
    unknown: list[str] = []
    for key, value in fragment.items():
        if key in LIST_ATTRIBUTES:
            unit[LIST_ATTRIBUTES[key]] += [unit_name(v) for v in value]
        elif key == "before":
            reverse.before += [unit_name(v) for v in value]
        elif key == "wantedBy":
            reverse.wanted_by += [unit_name(v) for v in value]
        elif key == "description":
            unit["description"] = value
        elif key == "environment":
            unit["environment"].update({k: str(v) for k, v in value.items()})
        elif key == "serviceConfig":
            unknown += _apply_service_config(unit, value)
        elif key not in IGNORED_ATTRIBUTES:
            unknown.append(key)
    if unknown:
        raise PlanUnitError(f"plan unit {origin!r}: the lab does not implement {', '.join(sorted(unknown))}")
    return reverse


def _apply_service_config(unit: dict[str, Any], config: Mapping[str, Any]) -> list[str]:
    unknown: list[str] = []
    for key, value in config.items():
        if key in COMMAND_SETTINGS:
            unit[COMMAND_SETTINGS[key]] += _commands(key, value)
        elif key in PATH_SETTINGS:
            unit[PATH_SETTINGS[key]] += [value] if isinstance(value, str) else list(value)
        elif key == "Type":
            unit["type"] = value
        elif key == "RemainAfterExit":
            unit["remain_after_exit"] = bool(value)
        elif key == "NetworkNamespacePath":
            unit["network_namespace_path"] = value
        elif key == "User":
            unit["user"] = value
        elif key == "Environment":
            entries = [value] if isinstance(value, str) else value
            unit["environment"].update(dict(entry.split("=", 1) for entry in entries))
        else:
            unknown.append(f"serviceConfig.{key}")
    return unknown


def _blank(name: str) -> dict[str, Any]:
    blank = Unit(name=name, type="oneshot").to_json()
    blank["type"] = "simple"
    return blank


def merge_plan_units(lab_units: Iterable[Unit], plan_units: Mapping[str, Mapping[str, Any]]) -> MergeResult:
    """The lab's units with the plan's fragments applied, plus instances only the plan defines."""
    drafts: dict[str, dict[str, Any]] = {u.name: copy.deepcopy(u.to_json()) for u in lab_units}
    templates = {key: value for key, value in plan_units.items() if key.endswith("@")}
    unmatched: list[str] = []
    for key in plan_units:
        if key.endswith("@"):
            continue
        name = unit_name(key)
        split = _split_instance(name)
        if name not in drafts:
            if (split and split[0] in templates) or "ExecStart" in plan_units[key].get("serviceConfig", {}):
                drafts[name] = _blank(name)
            else:
                unmatched.append(key)
    orderings: list[tuple[str, str]] = []
    wanted: list[tuple[str, str]] = []
    for name, draft in drafts.items():
        specifiers = _specifiers(name)
        split = _split_instance(name)
        fragments: list[tuple[str, Mapping[str, Any]]] = []
        if split and split[0] in templates:
            fragments.append((split[0], templates[split[0]]))
        stem = name.removesuffix(".service")
        if stem in plan_units:
            fragments.append((stem, plan_units[stem]))
        for origin, fragment in fragments:
            reverse = _apply(draft, _expand(fragment, specifiers), origin)
            orderings += [(name, target) for target in reverse.before]
            wanted += [(name, wanting) for wanting in reverse.wanted_by]
    for first, then in orderings:
        if then in drafts and first not in drafts[then]["after"]:
            drafts[then]["after"].append(first)
    for unit, wanting in wanted:
        if wanting in drafts:
            drafts[wanting]["wants"].append(unit)
    used_templates = {(_split_instance(name) or ("", ""))[0] for name in drafts}
    unmatched += [key for key in templates if key not in used_templates]
    units = []
    for draft in drafts.values():
        for key in ("after", "wants", "requires", "binds_to", "part_of"):
            draft[key] = list(dict.fromkeys(draft[key]))
        try:
            units.append(Unit.from_json(draft))
        except ValueError as error:
            raise PlanUnitError(str(error)) from None
    return MergeResult(units=units, unmatched=sorted(unmatched))
