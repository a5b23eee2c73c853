"""Resource quantities are compared by amount where Kubernetes stores them canonically."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.kube import quantity


@pytest.mark.parametrize(
    ("written", "stored"),
    [
        ("1000m", "1"),
        (1, "1"),
        (0.5, "500m"),
        (0.1, "100m"),
        (0.3, "300m"),
        (0.001, "1m"),
        (2.5, "2500m"),
        ("1024Mi", "1Gi"),
        ("1e3", "1k"),
        ("2", "2"),
    ],
)
def test_a_quantity_and_its_canonical_form_are_the_same_amount(
    written: object, stored: str
) -> None:
    assert quantity.same_amount(written, stored)


@pytest.mark.parametrize(
    ("desired", "live"),
    [("1", "2"), ("1Gi", "1G"), ("100m", "0.01"), ("abc", "abc"), (True, "1"), (None, "0")],
)
def test_different_amounts_and_non_quantities_are_not_the_same(desired: object, live: str) -> None:
    assert not quantity.same_amount(desired, live)


@pytest.mark.parametrize(
    ("parent", "key", "expected"),
    [
        ("limits", "cpu", True),
        ("requests", "nvidia.com/gpu", True),
        ("hard", "requests.memory", True),
        ("emptyDir", "sizeLimit", True),
        ("data", "limits", False),
        ("spec", "replicas", False),
        ("limits", 0, False),
        (None, None, False),
    ],
)
def test_quantity_fields_are_known_by_where_they_sit(
    parent: object, key: object, expected: bool
) -> None:
    assert quantity.is_quantity_field(parent, key) is expected


@given(st.integers(min_value=0, max_value=10**9))
def test_millis_and_whole_units_agree(units: int) -> None:
    assert quantity.same_amount(f"{units * 1000}m", str(units))
    assert quantity.amount(units) == Decimal(units)


_suffixes = st.sampled_from(["", "m", "k", "M", "G", "Ki", "Mi", "Gi", "Ti", "n", "u", "e3", "E-2"])


@given(
    st.decimals(min_value=0, max_value=10**6, places=3, allow_nan=False, allow_infinity=False),
    _suffixes,
)
def test_the_parser_agrees_with_the_kubernetes_client(number: Decimal, suffix: str) -> None:
    from kubernetes.utils import parse_quantity as reference

    text = f"{number}{suffix}"
    assert quantity.parse_quantity(text) == reference(text)


@pytest.mark.parametrize("text", ["", "m", "1.2.3", "1 Gi", "12x", "Gi1", "--1"])
def test_text_that_is_no_quantity_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not a Kubernetes quantity"):
        quantity.parse_quantity(text)
