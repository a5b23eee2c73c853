"""Drift as a pure diff of two dicts, and who owns the drifted fields."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.kube import compare
from gatekeeper.reconcile import drift

_keys = st.text(alphabet="abcdefgh", min_size=1, max_size=4)
_scalars = st.one_of(st.booleans(), st.integers(-5, 5), st.text(alphabet="xyz", max_size=3))


def _named_lists(children: st.SearchStrategy[Any]) -> st.SearchStrategy[list[dict[str, Any]]]:
    item = st.fixed_dictionaries({"name": _keys}, optional={"value": children})
    return st.lists(item, max_size=3, unique_by=lambda entry: entry["name"])


_values = st.recursive(
    _scalars,
    lambda children: st.one_of(
        st.dictionaries(_keys, children, max_size=3),
        st.lists(_scalars, max_size=3),
        _named_lists(children),
    ),
    max_leaves=12,
)
_documents = st.dictionaries(_keys, _values, max_size=4)


@settings(deadline=None)
@given(_documents)
def test_a_document_has_no_drift_from_itself(document: dict[str, Any]) -> None:
    assert compare.diff(document, copy.deepcopy(document)) == []


@settings(deadline=None)
@given(_documents, _documents)
def test_fields_only_the_live_object_has_are_never_drift(
    desired: dict[str, Any], extra: dict[str, Any]
) -> None:
    live = {**extra, **copy.deepcopy(desired)}
    assert compare.diff(desired, live) == []


@settings(deadline=None)
@given(_documents, _documents)
def test_applying_the_diff_to_the_live_object_leaves_no_drift(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    corrected = compare.apply_changes(live, compare.diff(desired, live))
    assert compare.diff(desired, corrected) == []


@settings(deadline=None)
@given(_documents, _documents)
def test_the_diff_is_empty_exactly_when_the_live_object_agrees_on_every_set_field(
    desired: dict[str, Any], live: dict[str, Any]
) -> None:
    changes = compare.diff(desired, live)
    merged = compare.apply_changes(live, changes)
    assert (not changes) == (merged == live)


def test_a_changed_scalar_is_reported_with_its_dotted_path() -> None:
    desired = {"data": {"color": "blue", "size": "m"}}
    live = {"data": {"color": "red", "size": "m", "other": "x"}}

    (change,) = compare.diff(desired, live)

    assert change.to_dict() == {"path": "data.color", "desired": "blue", "live": "red"}


def test_named_list_items_are_matched_by_name_not_position() -> None:
    desired = {"containers": [{"name": "app", "image": "a:1"}, {"name": "side", "image": "s:1"}]}
    live = {
        "containers": [
            {"name": "side", "image": "s:1", "imagePullPolicy": "IfNotPresent"},
            {"name": "app", "image": "a:2"},
        ]
    }

    (change,) = compare.diff(desired, live)

    assert change.dotted() == "containers[name=app].image"
    assert change.path == ("containers", ("name", "app"), "image")


def test_a_missing_field_and_a_missing_named_item_are_reported_as_missing() -> None:
    desired = {"data": {"k": "v"}, "items": [{"name": "x", "v": 1}]}
    live: dict[str, Any] = {"items": []}

    changes = {c.dotted(): c.live for c in compare.diff(desired, live)}

    assert changes == {"data": compare.MISSING, "items[name=x]": compare.MISSING}


def test_atomic_lists_are_compared_whole() -> None:
    assert compare.diff({"args": ["a", "b"]}, {"args": ["a", "b"]}) == []
    (change,) = compare.diff({"args": ["a", "b"]}, {"args": ["b", "a"]})
    assert change.dotted() == "args"
    (longer,) = compare.diff({"args": ["a"]}, {"args": ["a", "b"]})
    assert longer.live == ["a", "b"]


def test_booleans_and_integers_are_not_confused() -> None:
    (change,) = compare.diff({"enabled": True}, {"enabled": 1})
    assert change.live == 1


def test_an_explicit_null_in_git_matches_an_absent_live_field() -> None:
    assert compare.diff({"spec": {"x": None}}, {"spec": {"x": None}}) == []
    assert compare.diff({"spec": {"x": None}}, {"spec": {"x": 3}}) != []


_MANAGED = {
    "metadata": {
        "managedFields": [
            {
                "manager": "gatekeeper",
                "operation": "Apply",
                "time": "2026-01-01T00:00:00Z",
                "fieldsV1": {"f:data": {"f:size": {}}},
            },
            {
                "manager": "kubectl-edit",
                "operation": "Update",
                "time": "2026-01-01T00:05:00Z",
                "fieldsV1": {"f:data": {"f:color": {}}},
            },
            {
                "manager": "kubectl-set",
                "operation": "Update",
                "time": "2026-01-01T00:06:00Z",
                "fieldsV1": {"f:spec": {"f:containers": {'k:{"name":"app"}': {"f:image": {}}}}},
            },
        ]
    }
}


def test_the_actor_is_the_manager_that_owns_the_drifted_field() -> None:
    changes = compare.diff({"data": {"color": "blue"}}, {"data": {"color": "red"}})

    (actor,) = drift.actors(_MANAGED, changes, ignore="gatekeeper")

    assert actor.manager == "kubectl-edit"
    assert actor.owns_drifted_fields


def test_ownership_of_a_named_list_item_is_found_through_its_merge_key() -> None:
    changes = compare.diff(
        {"spec": {"containers": [{"name": "app", "image": "a:1"}]}},
        {"spec": {"containers": [{"name": "app", "image": "a:2"}]}},
    )

    (actor,) = drift.actors(_MANAGED, changes, ignore="gatekeeper")

    assert actor.manager == "kubectl-set"


def test_when_nobody_owns_the_drift_every_other_manager_is_a_suspect_latest_first() -> None:
    changes = compare.diff({"data": {"gone": "x"}}, {"data": {}})

    suspects = drift.actors(_MANAGED, changes, ignore="gatekeeper")

    assert [a.manager for a in suspects] == ["kubectl-set", "kubectl-edit"]
    assert not any(a.owns_drifted_fields for a in suspects)


def test_an_atomic_field_owned_whole_covers_its_positions() -> None:
    assert drift.owns({"f:spec": {"f:args": {}}}, ("spec", "args", 1))
    assert not drift.owns({"f:spec": {"f:other": {}}}, ("spec", "args"))


def test_empty_maps_and_nulls_in_git_match_fields_the_server_dropped() -> None:
    assert compare.diff({"metadata": {"labels": {}}, "spec": {"x": None, "y": []}}, {}) == []


def test_quantities_in_canonical_form_are_not_drift() -> None:
    desired = {
        "spec": {
            "containers": [{"name": "app", "resources": {"limits": {"cpu": 1, "memory": "512Mi"}}}],
            "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1024Mi"}}],
        }
    }
    live = {
        "spec": {
            "containers": [
                {"name": "app", "resources": {"limits": {"cpu": "1", "memory": "512Mi"}}}
            ],
            "volumes": [{"name": "scratch", "emptyDir": {"sizeLimit": "1Gi"}}],
        }
    }
    assert compare.diff(desired, live) == []
    live["spec"]["containers"][0]["resources"]["limits"]["cpu"] = "1500m"
    [change] = compare.diff(desired, live)
    assert change.dotted() == "spec.containers[name=app].resources.limits.cpu"
    assert (change.desired, change.live) == (1, "1500m")
