"""The one "does live match desired" comparison, shared by the webhook and the drift check."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.kube.compare import differences, matches

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


def _unset(value: Any) -> bool:
    """Nulls, empty lists and maps holding only such: what the API server drops."""
    if value is None:
        return True
    if isinstance(value, dict):
        return all(_unset(item) for item in value.values())
    return isinstance(value, list) and not value


@given(objects)
def test_every_object_matches_itself(document: dict[str, Any]) -> None:
    assert matches(document, copy.deepcopy(document))


@given(objects, documents)
def test_fields_the_server_adds_do_not_matter(document: dict[str, Any], extra: Any) -> None:
    assert matches(document, _add_defaults(document, extra))


@given(objects, keys, scalars)
def test_changing_a_field_the_manifest_sets_is_seen(
    document: dict[str, Any], key: str, value: Any
) -> None:
    live = copy.deepcopy(document)
    before = document.get(key, "absent")
    live[key] = value
    changed = not (before == value and type(before) is type(value))
    if key in document and changed and not (before is None and value is None):
        assert not matches(document, live)
        assert key in list(differences(document, live))


@given(objects)
def test_a_missing_field_is_a_difference_unless_the_manifest_leaves_it_unset(
    document: dict[str, Any],
) -> None:
    key = next(iter(document))
    live = {k: v for k, v in document.items() if k != key}
    assert matches(document, live) == _unset(document[key])


def test_named_items_are_matched_by_name_other_lists_by_position_and_length() -> None:
    desired = {"containers": [{"name": "a", "image": "x"}], "args": ["1", "2"]}
    assert matches(
        desired, {"containers": [{"name": "a", "image": "x", "pull": "Always"}], "args": ["1", "2"]}
    )
    assert list(
        differences(desired, {"containers": [{"name": "a", "image": "y"}], "args": ["1", "2"]})
    ) == ["containers[name=a].image"]
    assert list(differences(desired, {"containers": [], "args": ["1", "2"]})) == [
        "containers[name=a]"
    ]
    assert list(
        differences(desired, {"containers": [{"name": "a", "image": "x"}], "args": ["2", "1"]})
    ) == ["args"]


def test_named_items_in_another_order_still_match() -> None:
    desired = {"containers": [{"name": "a", "image": "x"}, {"name": "b", "image": "y"}]}
    reordered = {"containers": [{"name": "b", "image": "y"}, {"name": "a", "image": "x"}]}
    assert matches(desired, reordered)


def test_booleans_and_numbers_are_not_confused() -> None:
    assert not matches({"replicas": 1}, {"replicas": True})
    assert not matches({"enabled": True}, {"enabled": 1})
    assert matches({"ratio": 1}, {"ratio": 1.0})


def test_quantities_are_compared_by_amount() -> None:
    desired = {"resources": {"limits": {"cpu": "1000m", "memory": "1Gi"}}}
    assert matches(desired, {"resources": {"limits": {"cpu": "1", "memory": "1024Mi"}}})
    assert not matches(desired, {"resources": {"limits": {"cpu": "2", "memory": "1Gi"}}})
