"""Does a live object match its desired manifest? The one comparison of webhook and drift check.

The webhook admits the reconciler's change only when the incoming object matches the manifest
recorded for its commit, and the reconciler reports drift when a live object does not match its
manifest: both ask this module, so they can never disagree about the same object (except that
the webhook, when the reconciler adopts an object someone else made, also counts named items
the manifest lacks: `strict_lists`).

Everything here is a pure function of dicts. Fields the manifest does not set (defaults the
API server fills in, status, fields other managers own) are never drift. Lists of mappings
whose items all carry a `name` are matched by name, as Kubernetes merges containers, ports
and volumes; other lists are compared whole, as the API treats them atomically. Resource
quantities are compared by amount (`1000m` and `1` agree).
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from gatekeeper.kube import quantity

PathElement = str | int | tuple[str, str]
Path = tuple[PathElement, ...]

MISSING: Final = "<missing>"
# The desired side of an item of a named list that the manifest does not have (strict only).
NOT_IN_MANIFEST: Final = "<not in the manifest>"
_ABSENT = object()


@dataclass(frozen=True)
class FieldChange:
    """One field where the live object disagrees with the desired manifest."""

    path: Path
    desired: Any
    live: Any  # `_ABSENT` never escapes: a missing live field is reported as MISSING

    def dotted(self) -> str:
        """The path as `spec.template.spec.containers[name=app].image`."""
        text = ""
        for element in self.path:
            if isinstance(element, tuple):
                text += f"[{element[0]}={element[1]}]"
            elif isinstance(element, int):
                text += f"[{element}]"
            else:
                text += f".{element}" if text else element
        return text

    def to_dict(self) -> dict[str, Any]:
        return {"path": self.dotted(), "desired": self.desired, "live": self.live}


def _named_items(items: Sequence[Any]) -> bool:
    return bool(items) and all(
        isinstance(item, Mapping) and isinstance(item.get("name"), str) for item in items
    )


def diff(
    desired: Mapping[str, Any], live: Mapping[str, Any], *, strict_lists: bool = False
) -> list[FieldChange]:
    """Every field set in `desired` whose value in `live` differs, in document order.

    `strict_lists`: an item of a named list that `desired` lacks (a container, a volume, an
    environment variable) is a difference too. The webhook asks so of the reconciler's own
    changes, where such an item is someone else's left in the object the apply merged into;
    drift does not (a correction by apply cannot take another manager's item out)."""
    changes: list[FieldChange] = []
    _diff_mapping((), desired, live, changes, strict_lists)
    return changes


def matches(desired: Mapping[str, Any], live: Mapping[str, Any]) -> bool:
    """True when `live` agrees with `desired` on every field `desired` sets: no drift."""
    return not diff(desired, live)


def differences(
    desired: Mapping[str, Any], live: Mapping[str, Any], *, strict_lists: bool = False
) -> Iterator[str]:
    """The dotted paths (`spec.containers[name=app].image`) where `live` disagrees."""
    return (change.dotted() for change in diff(desired, live, strict_lists=strict_lists))


def _diff_value(
    path: Path, desired: Any, live: Any, out: list[FieldChange], strict: bool = False
) -> None:
    if live is _ABSENT:
        # The API server drops nulls and often empty maps and lists: those are "not set".
        if _unset(desired):
            return
        out.append(FieldChange(path, copy.deepcopy(desired), MISSING))
    elif isinstance(desired, Mapping):
        if isinstance(live, Mapping):
            _diff_mapping(path, desired, live, out, strict)
        else:
            out.append(FieldChange(path, copy.deepcopy(desired), copy.deepcopy(live)))
    elif isinstance(desired, list) and _named_items(desired):
        if isinstance(live, list) and all(isinstance(item, Mapping) for item in live):
            by_name = {item.get("name"): item for item in live}
            for item in desired:
                element = ("name", item["name"])
                found = by_name.get(item["name"], _ABSENT)
                _diff_value((*path, element), item, found, out, strict)
            if strict:
                wanted = {item["name"] for item in desired}
                out.extend(
                    FieldChange((*path, ("name", str(name))), NOT_IN_MANIFEST, copy.deepcopy(item))
                    for name, item in by_name.items()
                    if name not in wanted
                )
        else:
            out.append(FieldChange(path, copy.deepcopy(desired), copy.deepcopy(live)))
    elif isinstance(desired, list):
        if not _list_matches(desired, live):
            out.append(FieldChange(path, copy.deepcopy(desired), copy.deepcopy(live)))
    elif not _scalar_equal(desired, live) and not _same_quantity(path, desired, live):
        out.append(FieldChange(path, desired, copy.deepcopy(live)))


def _unset(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, Mapping):
        return all(_unset(item) for item in value.values())
    return isinstance(value, list) and not value


def _diff_mapping(
    path: Path,
    desired: Mapping[str, Any],
    live: Mapping[str, Any],
    out: list[FieldChange],
    strict: bool = False,
) -> None:
    for key, value in desired.items():
        _diff_value((*path, key), value, live.get(key, _ABSENT), out, strict)


def _list_matches(desired: list[Any], live: Any) -> bool:
    """An atomic list matches when it has as many items, each matching on what is set."""
    if not isinstance(live, list) or len(live) != len(desired):
        return False
    for want, have in zip(desired, live, strict=True):
        probe: list[FieldChange] = []
        _diff_value((), want, have, probe)
        if probe:
            return False
    return True


def _scalar_equal(desired: Any, live: Any) -> bool:
    if desired is None:
        # The API server drops explicit nulls: a null in Git means "not set".
        return live is None
    if isinstance(desired, bool) or isinstance(live, bool):
        return desired is live
    return bool(desired == live)


def _same_quantity(path: Path, desired: Any, live: Any) -> bool:
    # The API server rewrites quantities in canonical form: `cpu: 1000m` comes back as "1".
    parent = path[-2] if len(path) > 1 else None
    key = path[-1] if path else None
    return quantity.is_quantity_field(parent, key) and quantity.same_amount(desired, live)


def apply_changes(live: Mapping[str, Any], changes: Sequence[FieldChange]) -> dict[str, Any]:
    """`live` with every change's desired value written in: what a corrective apply yields."""
    result = copy.deepcopy(dict(live))
    for change in changes:
        _write(result, change.path, copy.deepcopy(change.desired))
    return result


def _write(node: Any, path: Path, value: Any) -> None:
    head, rest = path[0], path[1:]
    if isinstance(head, tuple):
        key, name = head
        match = next((item for item in node if item.get(key) == name), None)
        if match is None:
            if not rest:
                node.append(value)
                return
            match = {key: name}
            node.append(match)
        if not rest:
            node[node.index(match)] = value
            return
        _write(match, rest, value)
        return
    if isinstance(head, int):
        raise TypeError("list positions are compared whole, never written one by one")
    if not rest:
        node[head] = value
        return
    child = node.get(head)
    if not isinstance(child, dict | list):
        child = [] if isinstance(rest[0], tuple) else {}
        node[head] = child
    _write(child, rest, value)
