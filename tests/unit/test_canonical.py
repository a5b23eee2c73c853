"""Canonical JSON agrees with the RFC 8785 reference on every JSON value."""

from __future__ import annotations

from typing import Any

import pytest
import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.canonical import NotCanonicalisable, canonical_json, manifest_digest

keys = st.text(max_size=6) | st.sampled_from(["\U0001f600", "\ue000", "a\U0001f600", "é"])
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=16,
)


@given(values)
def test_the_output_is_byte_for_byte_the_rfc8785_reference(value: Any) -> None:
    assert canonical_json(value) == rfc8785.dumps(value)


def test_keys_outside_the_bmp_sort_by_utf16_code_units() -> None:
    value = {"\U0001f600": 1, "\ue000": 2}
    assert canonical_json(value) == rfc8785.dumps(value)
    assert canonical_json(value).index("\ue000".encode()) > canonical_json(value).index(
        "\U0001f600".encode()
    )


def test_integral_floats_are_written_as_integers() -> None:
    assert canonical_json({"replicas": 3.0, "ratio": 0.5}) == b'{"ratio":0.5,"replicas":3}'


@pytest.mark.parametrize("value", [float("nan"), {"a": float("inf")}, {"b": b"bytes"}, "\ud800"])
def test_values_json_cannot_represent_are_refused(value: Any) -> None:
    with pytest.raises(NotCanonicalisable):
        canonical_json(value)


def test_manifest_digests_ignore_key_order() -> None:
    a = {"kind": "ConfigMap", "metadata": {"name": "x", "namespace": "y"}}
    b = {"metadata": {"namespace": "y", "name": "x"}, "kind": "ConfigMap"}
    assert manifest_digest(a) == manifest_digest(b)
    assert manifest_digest(a).startswith("sha256:") and len(manifest_digest(a)) == 71
