"""The apply/prune plan of one pass: a pure function of the desired objects and the live ones.

Objects are applied in tiers so that what others depend on exists first (Namespaces, then
CustomResourceDefinitions, then cluster-wide configuration, then everything else, custom
resources last) and pruned in the reverse order.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from gatekeeper.kube import compare, contract
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey

_FIRST_KINDS: Final = (
    "Namespace",
    "CustomResourceDefinition",
    "PriorityClass",
    "StorageClass",
    "ClusterRole",
    "ClusterRoleBinding",
    "ResourceQuota",
    "LimitRange",
    "NetworkPolicy",
    "ServiceAccount",
    "Role",
    "RoleBinding",
    "Secret",
    "ConfigMap",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "Service",
)
_RANK: Final = {kind: index for index, kind in enumerate(_FIRST_KINDS)}
_WORKLOADS: Final = len(_FIRST_KINDS)
_CUSTOM: Final = _WORKLOADS + 1


def rank(kind: str, *, custom: bool = False) -> int:
    """The apply tier of a kind: lower goes first."""
    if custom:
        return _CUSTOM
    return _RANK.get(kind, _WORKLOADS)


def tiers(ranks: Iterable[int]) -> list[int]:
    return sorted(set(ranks))


@dataclass(frozen=True)
class Drifted:
    """A desired object whose live copy differs on fields the manifest sets (or is gone)."""

    desired: DesiredObject
    live: Mapping[str, Any] | None
    changes: tuple[compare.FieldChange, ...]

    @property
    def missing(self) -> bool:
        return self.live is None


@dataclass(frozen=True)
class Plan:
    """What one pass does: objects to apply (in tiers), drift found, objects to prune."""

    apply: tuple[tuple[DesiredObject, ...], ...] = ()
    unchanged: tuple[DesiredObject, ...] = ()
    drifted: tuple[Drifted, ...] = ()
    prune: tuple[Mapping[str, Any], ...] = ()
    notes: tuple[str, ...] = field(default=())

    @property
    def to_apply(self) -> list[DesiredObject]:
        return [item for tier in self.apply for item in tier]


def expected(item: DesiredObject, *, source: str, commit: str) -> dict[str, Any]:
    """The manifest as it is applied: rendered from Git plus its provenance metadata."""
    return contract.annotate(item.manifest, source=source, commit=commit)


def comparable(manifest: dict[str, Any]) -> dict[str, Any]:
    """The manifest in the form the API server stores: a Secret's write-only `stringData`
    becomes base64 `data`, as it never comes back from the server."""
    if manifest.get("kind") != "Secret" or manifest.get("apiVersion") != "v1":
        return manifest
    string_data = manifest.get("stringData")
    if not isinstance(string_data, Mapping):
        return manifest
    result = {key: value for key, value in manifest.items() if key != "stringData"}
    data = dict(result.get("data") or {})
    for key, value in string_data.items():
        data[key] = base64.b64encode(str(value).encode("utf-8")).decode("ascii")
    result["data"] = data
    return result


def plan(
    desired: Sequence[DesiredObject],
    live: Mapping[ObjectKey, Mapping[str, Any]],
    *,
    source: str,
    commit: str,
    synced: bool,
    custom_kinds: frozenset[tuple[str, str]] = frozenset(),
) -> Plan:
    """Compare desired with live.

    `synced` says the live state already came from `commit`: then any difference is drift
    (an object gone, a field changed out of band). Otherwise differences are simply what the
    new commit changes, and are applied.
    """
    to_apply: list[DesiredObject] = []
    unchanged: list[DesiredObject] = []
    drifted: list[Drifted] = []
    for item in desired:
        current = live.get(item.key)
        if current is None:
            if synced:
                drifted.append(Drifted(item, None, ()))
            else:
                to_apply.append(item)
            continue
        changes = compare.diff(comparable(expected(item, source=source, commit=commit)), current)
        if not changes:
            unchanged.append(item)
        elif synced:
            drifted.append(Drifted(item, current, tuple(changes)))
        else:
            to_apply.append(item)
    wanted = {item.key for item in desired}
    stale = [obj for key, obj in live.items() if key not in wanted and _belongs_to(obj, source)]
    return Plan(
        apply=group(to_apply, custom_kinds=custom_kinds),
        unchanged=tuple(unchanged),
        drifted=tuple(drifted),
        prune=tuple(prune_order(stale, custom_kinds=custom_kinds)),
    )


def _belongs_to(obj: Mapping[str, Any], source: str) -> bool:
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return contract.is_managed(obj) and (annotations.get(contract.SOURCE_ANNOTATION) == source)


def _rank_of(manifest: Mapping[str, Any], custom_kinds: frozenset[tuple[str, str]]) -> int:
    key = ObjectKey.of(manifest)
    return rank(key.kind, custom=(key.api_group, key.kind) in custom_kinds)


def group(
    items: Iterable[DesiredObject], *, custom_kinds: frozenset[tuple[str, str]] = frozenset()
) -> tuple[tuple[DesiredObject, ...], ...]:
    """Objects grouped into apply tiers, in tier order; within a tier by key, stable."""
    by_rank: dict[int, list[DesiredObject]] = {}
    for item in items:
        by_rank.setdefault(_rank_of(item.manifest, custom_kinds), []).append(item)
    return tuple(tuple(sorted(by_rank[r], key=lambda i: str(i.key))) for r in tiers(by_rank))


def prune_order(
    objects: Iterable[Mapping[str, Any]], *, custom_kinds: frozenset[tuple[str, str]] = frozenset()
) -> list[Mapping[str, Any]]:
    """Objects to delete, dependants first: the reverse of the apply order."""
    return sorted(
        objects,
        key=lambda obj: (-_rank_of(obj, custom_kinds), str(ObjectKey.of(obj))),
    )
