"""Resource quantities: `cpu: 1000m`, `cpu: 1` and `cpu: "1"` are one amount.

The API server stores quantities in a canonical form (`1000m` becomes `1`, `0.5` becomes
`500m`, `1024Mi` becomes `1Gi`), so a live object can spell a quantity differently from the
manifest it was applied from. Comparisons of manifests with live objects treat the fields
below as amounts; any other field is compared as written.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from kubernetes.utils import parse_quantity

# Maps whose values are quantities: container and Pod resources (`limits`, `requests`,
# `overhead`), ResourceQuota `hard`, PersistentVolume `capacity`, Node `allocatable`, and the
# bounds of a LimitRange item.
_QUANTITY_MAPS = frozenset(
    {
        "limits",
        "requests",
        "overhead",
        "hard",
        "capacity",
        "allocatable",
        "max",
        "min",
        "default",
        "defaultRequest",
        "maxLimitRequestRatio",
    }
)
# Single fields that hold a quantity (`emptyDir.sizeLimit`).
_QUANTITY_FIELDS = frozenset({"sizeLimit"})


def is_quantity_field(parent: object, key: object) -> bool:
    """Whether the value at `key`, inside the map found at `parent`, is a quantity."""
    return key in _QUANTITY_FIELDS or (isinstance(key, str) and parent in _QUANTITY_MAPS)


def amount(value: Any) -> Decimal | None:
    """The amount a quantity stands for; None when `value` is not a quantity."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    if isinstance(value, float):
        # As written in the manifest: Decimal(0.1) would be 0.1000000000000000055...
        value = repr(value)
    try:
        parsed: Decimal = parse_quantity(value)  # type: ignore[no-untyped-call]
    except (ValueError, ArithmeticError):
        return None
    return parsed


def same_amount(desired: Any, live: Any) -> bool:
    """True when both are quantities for the same amount (`1000m` and `1`)."""
    want = amount(desired)
    return want is not None and want == amount(live)
