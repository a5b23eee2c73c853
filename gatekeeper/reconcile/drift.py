"""Drift: who changed a live object that no longer matches its manifest (see `kube.compare`).

The comparison itself lives in `gatekeeper.kube.compare`, shared with the webhook; this module
reads an object's managedFields to name the field managers behind the fields that drifted.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from gatekeeper.kube.compare import FieldChange, Path, PathElement


@dataclass(frozen=True)
class Actor:
    """A field manager other than the reconciler, from an object's managedFields."""

    manager: str
    operation: str
    time: str
    owns_drifted_fields: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "manager": self.manager,
            "operation": self.operation,
            "time": self.time,
            "owns_drifted_fields": self.owns_drifted_fields,
        }


def _field_key(element: PathElement) -> str | None:
    if isinstance(element, tuple):
        return "k:" + json.dumps({element[0]: element[1]}, separators=(",", ":"))
    if isinstance(element, int):
        return None
    return f"f:{element}"


def owns(fields: Mapping[str, Any], path: Path) -> bool:
    """True when a fieldsV1 tree claims `path` (or an atomic field above it)."""
    node: Any = fields
    for element in path:
        key = _field_key(element)
        if key is None:
            return True  # a position in an atomic list: owned with the list itself
        if not isinstance(node, Mapping) or key not in node:
            return False
        node = node[key]
        if isinstance(node, Mapping) and not node:
            return True
    return isinstance(node, Mapping)


def actors(live: Mapping[str, Any], changes: Sequence[FieldChange], *, ignore: str) -> list[Actor]:
    """The managers (other than `ignore`) that own drifted fields, latest first.

    When none owns them (a field removed, an object recreated), every other manager that
    wrote the object is listed with `owns_drifted_fields` false, as the likely suspects.
    """
    entries = [
        entry
        for entry in (live.get("metadata") or {}).get("managedFields") or []
        if isinstance(entry, Mapping) and entry.get("manager") != ignore
    ]
    found: list[Actor] = []
    for entry in entries:
        fields = entry.get("fieldsV1") or {}
        owning = any(owns(fields, change.path) for change in changes)
        found.append(
            Actor(
                manager=str(entry.get("manager") or ""),
                operation=str(entry.get("operation") or ""),
                time=str(entry.get("time") or ""),
                owns_drifted_fields=owning,
            )
        )
    owners = [actor for actor in found if actor.owns_drifted_fields]
    chosen = owners or found
    return sorted(chosen, key=lambda actor: actor.time, reverse=True)
