"""Gatekeeper's `match` block: which objects a constraint applies to (pure functions)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

NamespaceLabels = Callable[[str], Mapping[str, str] | None]


def wildcard_match(pattern: str, value: str) -> bool:
    """Gatekeeper's name globs: `*` alone, a `prefix*`, a `*suffix`, a `*part*`, or an exact
    name."""
    if pattern == "*":
        return True
    if len(pattern) > 1 and pattern.startswith("*") and pattern.endswith("*"):
        return pattern[1:-1] in value
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
    # An entry with no kinds or no groups leaves that part open, as in Gatekeeper.
    if not kinds:
        return True
    for entry in kinds:
        groups = entry.get("apiGroups") or ["*"]
        names = entry.get("kinds") or ["*"]
        if ("*" in groups or group in groups) and ("*" in names or kind in names):
            return True
    return False


def _objects(review: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The object and the old object, whichever are present: Gatekeeper matches when either
    does (a DELETE carries only the old one, an UPDATE both)."""
    found = [review.get(key) for key in ("object", "oldObject")]
    return [obj for obj in found if isinstance(obj, Mapping) and obj]


def constraint_matches(
    match: Mapping[str, Any],
    review: Mapping[str, Any],
    *,
    namespace_labels: NamespaceLabels,
) -> bool:
    """Whether a constraint's match block selects the object under review.

    Field by field as Gatekeeper's matcher: each field left out matches everything, and a
    field that needs a namespace never disqualifies an object that has none (a Pod manifest
    with no `metadata.namespace`, as in most test suites). A Namespace counts as being in
    itself. `namespaceSelector` lets other cluster-scoped objects through. `source` is
    `All` (default), `Original` or `Generated`: the gatekeeper reviews only original
    objects, so `Generated` selects nothing. The object matches when either the object or
    the old object does.
    """
    kind_info = review.get("kind") or {}
    group = str(kind_info.get("group") or "")
    kind = str(kind_info.get("kind") or "")
    if not _kind_matches(match.get("kinds") or (), group, kind):
        return False
    if str(match.get("source") or "All") == "Generated":
        return False
    objects = _objects(review) or [{}]
    return any(
        _object_matches(match, obj, (group, kind), review, namespace_labels) for obj in objects
    )


def _object_matches(
    match: Mapping[str, Any],
    obj: Mapping[str, Any],
    group_kind: tuple[str, str],
    review: Mapping[str, Any],
    namespace_labels: NamespaceLabels,
) -> bool:
    group, kind = group_kind
    metadata = obj.get("metadata") or {}
    if not isinstance(metadata, Mapping):
        metadata = {}
    labels = metadata.get("labels") or {}
    name = str(metadata.get("name") or review.get("name") or "")
    is_namespace = kind == "Namespace" and group == ""
    # The namespace an object is in: the request's, else the one its manifest declares.
    namespace = str(review.get("namespace") or metadata.get("namespace") or "")
    if is_namespace:
        namespace = name
    has_namespace = bool(namespace) and not is_namespace
    scope = match.get("scope") or "*"
    if scope == "Cluster" and has_namespace:
        return False
    if scope == "Namespaced" and not has_namespace:
        return False
    namespaces = match.get("namespaces") or ()
    if namespaces and namespace and not any(wildcard_match(p, namespace) for p in namespaces):
        return False
    excluded = match.get("excludedNamespaces") or ()
    if namespace and any(wildcard_match(p, namespace) for p in excluded):
        return False
    if not selector_matches(match.get("labelSelector"), labels):
        return False
    namespace_selector = match.get("namespaceSelector")
    if namespace_selector and namespace:
        selected = labels if is_namespace else namespace_labels(namespace)
        if selected is None or not selector_matches(namespace_selector, selected):
            return False
    name_pattern = match.get("name")
    return not name_pattern or wildcard_match(str(name_pattern), name)
