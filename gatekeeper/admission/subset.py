"""The "desired is a subset of live" comparison between a manifest from Git and an object.

The API server adds defaults (`imagePullPolicy`, `terminationMessagePath`, ...) and metadata
(`uid`, `resourceVersion`, `managedFields`), so a live object may carry more than its manifest
says. What it may not do is disagree with the manifest on a field the manifest sets. Maps are
compared key by key, lists element by element (same length), scalars by value and type.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


def is_subset(desired: Any, live: Any) -> bool:
    """True when `live` agrees with `desired` on every field `desired` sets."""
    return next(differences(desired, live), None) is None


def differences(desired: Any, live: Any, path: str = "") -> Iterator[str]:
    """Dotted paths (`spec.template.spec.containers[0].image`) where `live` disagrees."""
    if isinstance(desired, Mapping):
        if not isinstance(live, Mapping):
            yield path or "(root)"
            return
        for key, value in desired.items():
            where = f"{path}.{key}" if path else str(key)
            if key not in live:
                if value is None:
                    # An explicit null in a manifest asks for the field to be absent.
                    continue
                yield where
                continue
            yield from differences(value, live[key], where)
        return
    if isinstance(desired, list):
        if not isinstance(live, list) or len(live) != len(desired):
            yield path or "(root)"
            return
        for index, (want, have) in enumerate(zip(desired, live, strict=True)):
            yield from differences(want, have, f"{path}[{index}]")
        return
    if not _same_scalar(desired, live):
        yield path or "(root)"


def _same_scalar(desired: Any, live: Any) -> bool:
    # bool is an int in Python; `replicas: true` must not match `replicas: 1`.
    if isinstance(desired, bool) or isinstance(live, bool):
        return isinstance(desired, bool) and isinstance(live, bool) and desired == live
    if isinstance(desired, int | float) and isinstance(live, int | float):
        return desired == live
    return type(desired) is type(live) and bool(desired == live)
