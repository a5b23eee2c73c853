"""Resource quantities: `cpu: 1000m`, `cpu: 1` and `cpu: "1"` are one amount.

The API server stores quantities in a canonical form (`1000m` becomes `1`, `0.5` becomes
`500m`, `1024Mi` becomes `1Gi`), so a live object can spell a quantity differently from the
manifest it was applied from. Comparisons of manifests with live objects treat the fields
below as amounts; any other field is compared as written.
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any, Final

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


# Kubernetes' quantity grammar: a signed decimal number, then a binary SI suffix (Ki..Ei), a
# decimal SI suffix (n..E) or a decimal exponent (e3, E-2). Parsed here rather than with the
# client library's parser, which would load the whole Kubernetes client into pure modules.
_QUANTITY: Final = re.compile(
    r"(?P<number>[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+))"
    r"(?P<suffix>Ki|Mi|Gi|Ti|Pi|Ei|[numkMGTPE]|[eE][+-]?[0-9]+)?"
)
_BINARY: Final = {"Ki": 1, "Mi": 2, "Gi": 3, "Ti": 4, "Pi": 5, "Ei": 6}
_DECIMAL: Final = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def parse_quantity(text: str | int) -> Decimal:
    """The amount a Kubernetes quantity string stands for; ValueError when it is not one."""
    found = _QUANTITY.fullmatch(str(text).strip())
    if found is None:
        raise ValueError(f"{text!r} is not a Kubernetes quantity")
    number = Decimal(found["number"])
    suffix = found["suffix"] or ""
    if suffix in _BINARY:
        return number * (Decimal(1024) ** _BINARY[suffix])
    if suffix in _DECIMAL:
        return number.scaleb(_DECIMAL[suffix])
    if suffix:
        return number.scaleb(int(suffix[1:]))
    return number


def amount(value: Any) -> Decimal | None:
    """The amount a quantity stands for; None when `value` is not a quantity."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        return None
    if isinstance(value, float):
        # As written in the manifest: Decimal(0.1) would be 0.1000000000000000055...
        value = repr(value)
    try:
        parsed = parse_quantity(value)
    except (ValueError, ArithmeticError, InvalidOperation):
        return None
    return parsed


def same_amount(desired: Any, live: Any) -> bool:
    """True when both are quantities for the same amount (`1000m` and `1`)."""
    want = amount(desired)
    return want is not None and want == amount(live)
