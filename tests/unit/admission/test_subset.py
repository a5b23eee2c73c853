"""The "desired is a subset of live" comparison used for the reconciler-identity rule."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.admission.subset import differences, is_subset

keys = st.text(alphabet="abcdefgh", min_size=1, max_size=4)
scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-5, 5), st.text(alphabet="xyz", max_size=3)
)
documents = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(keys, inner, max_size=4)),
    max_leaves=12,
)
objects = st.dictionaries(keys, documents, min_size=1, max_size=4)


def _add_defaults(value: Any, extra: Any) -> Any:
    """What the API server does: add fields to maps, never change what is there."""
    if isinstance(value, dict):
        result = {k: _add_defaults(v, extra) for k, v in value.items()}
        result.setdefault("zz-defaulted", extra)
        return result
    if isinstance(value, list):
        return [_add_defaults(item, extra) for item in value]
    return value


@given(objects)
def test_every_object_is_a_subset_of_itself(document: dict[str, Any]) -> None:
    assert is_subset(document, copy.deepcopy(document))


@given(objects, documents)
def test_fields_the_server_adds_do_not_matter(document: dict[str, Any], extra: Any) -> None:
    assert is_subset(document, _add_defaults(document, extra))


@given(objects, keys, scalars)
def test_changing_a_field_the_manifest_sets_is_seen(
    document: dict[str, Any], key: str, value: Any
) -> None:
    live = copy.deepcopy(document)
    before = document.get(key, "absent")
    live[key] = value
    changed = not (before == value and type(before) is type(value))
    if key in document and changed and not (before is None and value is None):
        assert not is_subset(document, live)
        assert key in list(differences(document, live))


@given(objects)
def test_a_missing_field_is_a_difference_unless_the_manifest_asks_for_null(
    document: dict[str, Any],
) -> None:
    key = next(iter(document))
    live = {k: v for k, v in document.items() if k != key}
    assert is_subset(document, live) == (document[key] is None)


def test_lists_are_compared_element_by_element_and_by_length() -> None:
    desired = {"containers": [{"name": "a", "image": "x"}]}
    assert is_subset(desired, {"containers": [{"name": "a", "image": "x", "pull": "Always"}]})
    assert list(differences(desired, {"containers": [{"name": "a", "image": "y"}]})) == [
        "containers[0].image"
    ]
    assert list(differences(desired, {"containers": []})) == ["containers"]


def test_booleans_and_numbers_are_not_confused() -> None:
    assert not is_subset({"replicas": 1}, {"replicas": True})
    assert not is_subset({"enabled": True}, {"enabled": 1})
    assert is_subset({"ratio": 1}, {"ratio": 1.0})
    assert not is_subset({"port": "80"}, {"port": 80})


def test_quantities_the_api_server_rewrote_still_agree_with_the_manifest() -> None:
    desired = {"resources": {"limits": {"cpu": 1, "memory": "1024Mi"}, "requests": {"cpu": 0.5}}}
    live = {"resources": {"limits": {"cpu": "1", "memory": "1Gi"}, "requests": {"cpu": "500m"}}}
    assert is_subset(desired, live)
    live["resources"]["limits"]["cpu"] = "2"
    assert list(differences(desired, live)) == ["resources.limits.cpu"]


def test_only_quantity_fields_are_compared_by_amount() -> None:
    assert not is_subset({"data": {"size": "1000m"}}, {"data": {"size": "1"}})
    assert not is_subset({"spec": {"replicas": 1}}, {"spec": {"replicas": "1"}})
