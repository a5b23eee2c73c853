"""Gatekeeper's `match` block: which objects a constraint applies to (pure functions)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

NamespaceLabels = Callable[[str], Mapping[str, str] | None]


def wildcard_match(pattern: str, value: str) -> bool:
    """Gatekeeper's name globs: `*` alone, a `prefix*`, a `*suffix`, or an exact name."""
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        return value.startswith(pattern[:-1])
    if pattern.startswith("*"):
        return value.endswith(pattern[1:])
    return pattern == value


def selector_matches(selector: Mapping[str, Any] | None, labels: Mapping[str, str]) -> bool:
    """A Kubernetes label selector (matchLabels and matchExpressions) against labels."""
    if not selector:
        return True
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or ():
        key = expression.get("key", "")
        operator = expression.get("operator", "")
        values = list(expression.get("values") or ())
        if operator == "In":
            ok = key in labels and labels[key] in values
        elif operator == "NotIn":
            ok = key not in labels or labels[key] not in values
        elif operator == "Exists":
            ok = key in labels
        elif operator == "DoesNotExist":
            ok = key not in labels
        else:
            raise ValueError(f"unknown label selector operator {operator!r}")
        if not ok:
            return False
    return True


def _kind_matches(kinds: Sequence[Mapping[str, Any]], group: str, kind: str) -> bool:
    if not kinds:
        return True
    for entry in kinds:
        groups = entry.get("apiGroups") or ["*"]
        names = entry.get("kinds") or ["*"]
        if ("*" in groups or group in groups) and ("*" in names or kind in names):
            return True
    return False


def _the_object(review: Mapping[str, Any]) -> Mapping[str, Any]:
    # A DELETE carries the object only as oldObject.
    obj = review.get("object") or review.get("oldObject") or {}
    return obj if isinstance(obj, Mapping) else {}


def constraint_matches(
    match: Mapping[str, Any],
    review: Mapping[str, Any],
    *,
    namespace_labels: NamespaceLabels,
) -> bool:
    """Whether a constraint's match block selects the object under review.

    As in Gatekeeper: a Namespace counts as being in itself for `namespaces`,
    `excludedNamespaces` and `namespaceSelector`; other cluster-scoped objects are outside
    every namespace, so `namespaces` does not select them and `namespaceSelector` does not
    filter them out.
    """
    kind_info = review.get("kind") or {}
    group = str(kind_info.get("group") or "")
    kind = str(kind_info.get("kind") or "")
    if not _kind_matches(match.get("kinds") or (), group, kind):
        return False
    obj = _the_object(review)
    metadata = obj.get("metadata") or {}
    is_namespace = kind == "Namespace" and group == ""
    namespace = str(review.get("namespace") or metadata.get("namespace") or "")
    name = str(review.get("name") or metadata.get("name") or "")
    if is_namespace:
        namespace = name
    scope = match.get("scope", "*")
    cluster_scoped = not namespace or is_namespace
    if scope == "Cluster" and not cluster_scoped:
        return False
    if scope == "Namespaced" and cluster_scoped:
        return False
    if "name" in match and not wildcard_match(str(match["name"]), name):
        return False
    namespaces = match.get("namespaces")
    if namespaces and not (namespace and any(wildcard_match(p, namespace) for p in namespaces)):
        return False
    excluded = match.get("excludedNamespaces") or ()
    if namespace and any(wildcard_match(p, namespace) for p in excluded):
        return False
    if not selector_matches(match.get("labelSelector"), metadata.get("labels") or {}):
        return False
    namespace_selector = match.get("namespaceSelector")
    if namespace_selector and namespace:
        labels = (metadata.get("labels") or {}) if is_namespace else namespace_labels(namespace)
        if labels is None or not selector_matches(namespace_selector, labels):
            return False
    return True
