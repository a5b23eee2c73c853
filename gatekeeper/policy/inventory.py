"""`data.inventory` in Gatekeeper's layout, built from the objects the gatekeeper knows."""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import Any


def build_inventory(objects: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """Gatekeeper's replicated-data layout:

    `namespace[ns][groupversion][kind][name]` for namespaced objects and
    `cluster[groupversion][kind][name]` for cluster-scoped ones, where groupversion is the
    object's apiVersion (`v1`, `apps/v1`). Later objects with the same key replace earlier ones.
    """
    inventory: dict[str, Any] = {"cluster": {}, "namespace": {}}
    for obj in objects:
        metadata = obj.get("metadata") or {}
        name = metadata.get("name")
        api_version = obj.get("apiVersion")
        kind = obj.get("kind")
        if not name or not api_version or not kind:
            raise ValueError("inventory objects need apiVersion, kind and metadata.name")
        namespace = metadata.get("namespace")
        if namespace:
            root = inventory["namespace"].setdefault(namespace, {})
        else:
            root = inventory["cluster"]
        root.setdefault(api_version, {}).setdefault(kind, {})[name] = copy.deepcopy(dict(obj))
    return inventory


def namespace_labels(inventory: Mapping[str, Any], namespace: str) -> Mapping[str, str] | None:
    """The labels of a Namespace object in the inventory, or None if it is not there."""
    found = inventory.get("cluster", {}).get("v1", {}).get("Namespace", {}).get(namespace)
    if found is None:
        return None
    labels = (found.get("metadata") or {}).get("labels") or {}
    return dict(labels)
