"""The "desired is a subset of live" comparison between a manifest from Git and an object.

The API server adds defaults (`imagePullPolicy`, `terminationMessagePath`, ...) and metadata
(`uid`, `resourceVersion`, `managedFields`), so a live object may carry more than its manifest
says. What it may not do is disagree with the manifest on a field the manifest sets. Maps are
compared key by key, lists element by element (same length), scalars by value and type, and
resource quantities by amount (the API server writes `cpu: 1000m` as `"1"`).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from gatekeeper import quantity


def is_subset(desired: Any, live: Any) -> bool:
    """True when `live` agrees with `desired` on every field `desired` sets."""
    return next(differences(desired, live), None) is None


def differences(desired: Any, live: Any, path: str = "") -> Iterator[str]:
    """Dotted paths (`spec.template.spec.containers[0].image`) where `live` disagrees."""
    return _differences(desired, live, path, None, None)


def _differences(
    desired: Any, live: Any, path: str, parent: str | None, key: str | None
) -> Iterator[str]:
    # `key` names the field holding `desired`; `parent` the field of the map holding `key`.
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            yield path or "(root)"
            return
        for name, value in desired.items():
            where = f"{path}.{name}" if path else str(name)
            if name not in live:
                if value is None:
                    # An explicit null in a manifest asks for the field to be absent.
                    continue
                yield where
                continue
            yield from _differences(value, live[name], where, key, name)
        return
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            yield path or "(root)"
            return
        for index, (want, have) in enumerate(zip(desired, live, strict=True)):
            yield from _differences(want, have, f"{path}[{index}]", None, None)
        return
    if _same_scalar(desired, live):
        return
    if quantity.is_quantity_field(parent, key) and quantity.same_amount(desired, live):
        return
    yield path or "(root)"


def _same_scalar(desired: Any, live: Any) -> bool:
    # bool is an int in Python; `replicas: true` must not match `replicas: 1`.
    if isinstance(desired, bool) or isinstance(live, bool):
        return isinstance(desired, bool) and isinstance(live, bool) and desired == live
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return desired == live
    return type(desired) is type(live) and bool(desired == live)
