"""`systemctl show`'s view of a lab unit: the properties scenario scripts and the driver read."""

from __future__ import annotations

from mail_lab.unit_manager import UnitManager
from mail_lab.units import unit_name


def show_properties(manager: UnitManager, name: str) -> dict[str, str]:
    name = unit_name(name)
    unit = manager.units().get(name)
    if unit is None:
        return {
            "Id": name,
            "Names": name,
            "LoadState": "not-found",
            "ActiveState": "inactive",
            "SubState": "dead",
            "MainPID": "0",
            "Result": "success",
        }
    state = manager.state(name)
    main = state.main.pid if state.main and state.main.alive() else 0
    return {
        "Id": name,
        "Names": name,
        "Description": unit.description or name,
        "LoadState": "loaded",
        "ActiveState": state.active_state,
        "SubState": state.sub_state,
        "Result": state.result,
        "MainPID": str(main),
        "ExecMainPID": str(main),
        "Type": unit.type,
        "RemainAfterExit": "yes" if unit.remain_after_exit else "no",
        "After": " ".join(unit.after),
        "Wants": " ".join(unit.wants),
        "Requires": " ".join(unit.requires),
        "BindsTo": " ".join(unit.binds_to),
        "PartOf": " ".join(unit.part_of),
        "NetworkNamespacePath": unit.network_namespace_path or "",
        "BindReadOnlyPaths": " ".join(unit.bind_read_only_paths),
        "BindPaths": " ".join(unit.bind_paths),
        "InaccessiblePaths": " ".join(unit.inaccessible_paths),
        "User": unit.user or "",
        "NRestarts": "0",
        "StartCount": str(state.starts),
        "UnitFileState": "enabled",
    }
