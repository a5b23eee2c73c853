"""The apply/prune plan: ordering, what is skipped, what is drift, what is pruned."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.kube import contract
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.reconcile import planner

_KINDS = [
    ("v1", "Namespace"),
    ("apiextensions.k8s.io/v1", "CustomResourceDefinition"),
    ("v1", "ConfigMap"),
    ("v1", "Service"),
    ("apps/v1", "Deployment"),
    ("batch/v1", "Job"),
    ("example.com/v1", "Widget"),
    ("rbac.authorization.k8s.io/v1", "Role"),
]
CUSTOM = frozenset({("example.com", "Widget")})


def _desired(api_version: str, kind: str, name: str, **data: Any) -> DesiredObject:
    manifest: dict[str, Any] = {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": name, "namespace": "ns"},
        **data,
    }
    return DesiredObject(key=ObjectKey.of(manifest), path=f"{name}.yaml", manifest=manifest)


def _live(item: DesiredObject, *, source: str = "apps", commit: str = "c1") -> dict[str, Any]:
    obj = planner.expected(item, source=source, commit=commit)
    obj["metadata"]["uid"] = "server-set"
    obj["status"] = {"anything": True}
    return obj


_objects = st.lists(
    st.tuples(st.sampled_from(_KINDS), st.text(alphabet="abc", min_size=1, max_size=3)),
    max_size=12,
    unique_by=lambda entry: (entry[0], entry[1]),
).map(lambda entries: [_desired(api, kind, name) for (api, kind), name in entries])


@settings(deadline=None)
@given(_objects)
def test_namespaces_and_definitions_come_first_and_custom_resources_last(
    items: list[DesiredObject],
) -> None:
    order = [item.key.kind for tier in planner.group(items, custom_kinds=CUSTOM) for item in tier]
    ranks = [planner.rank(kind, custom=("example.com", kind) in CUSTOM) for kind in order]
    assert ranks == sorted(ranks)
    assert sorted(order) == sorted(item.key.kind for item in items)
    if "Namespace" in order:
        assert order[0] == "Namespace"
    if "Widget" in order:
        assert order[-1] == "Widget"


@settings(deadline=None)
@given(_objects)
def test_pruning_runs_in_the_reverse_order_of_applying(items: list[DesiredObject]) -> None:
    live = [_live(item) for item in items]
    pruned = planner.prune_order(live, custom_kinds=CUSTOM)
    ranks = [
        planner.rank(obj["kind"], custom=("example.com", obj["kind"]) in CUSTOM) for obj in pruned
    ]
    assert ranks == sorted(ranks, reverse=True)


def test_a_new_commit_applies_what_is_missing_or_different_and_skips_what_matches() -> None:
    same = _desired("v1", "ConfigMap", "same", data={"k": "v"})
    changed = _desired("v1", "ConfigMap", "changed", data={"k": "new"})
    new = _desired("v1", "ConfigMap", "new")
    old_changed = _desired("v1", "ConfigMap", "changed", data={"k": "old"})
    live = {same.key: _live(same, commit="c2"), changed.key: _live(old_changed, commit="c1")}

    plan = planner.plan([same, changed, new], live, source="apps", commit="c2", synced=False)

    assert [item.key.name for item in plan.to_apply] == ["changed", "new"]
    assert [item.key.name for item in plan.unchanged] == ["same"]
    assert plan.drifted == ()


def test_an_object_from_an_older_commit_is_reapplied_to_carry_the_new_commit() -> None:
    item = _desired("v1", "ConfigMap", "a", data={"k": "v"})
    plan = planner.plan(
        [item], {item.key: _live(item, commit="c1")}, source="apps", commit="c2", synced=False
    )
    assert plan.to_apply == [item]


def test_on_the_synced_commit_differences_are_drift_and_nothing_is_applied() -> None:
    kept = _desired("v1", "ConfigMap", "kept", data={"k": "v"})
    edited = _desired("v1", "ConfigMap", "edited", data={"k": "v"})
    deleted = _desired("v1", "ConfigMap", "deleted")
    edited_live = _live(edited)
    edited_live["data"]["k"] = "hand-edited"
    live = {kept.key: _live(kept), edited.key: edited_live}

    plan = planner.plan([kept, edited, deleted], live, source="apps", commit="c1", synced=True)

    assert plan.to_apply == []
    assert {(d.desired.key.name, d.missing) for d in plan.drifted} == {
        ("edited", False),
        ("deleted", True),
    }
    (edit,) = [d for d in plan.drifted if not d.missing]
    assert [c.dotted() for c in edit.changes] == ["data.k"]


def test_only_managed_objects_of_this_source_are_pruned() -> None:
    gone = _desired("v1", "ConfigMap", "gone")
    other = _desired("v1", "ConfigMap", "other")
    unmanaged = _live(_desired("v1", "ConfigMap", "manual"))
    del unmanaged["metadata"]["labels"][contract.MANAGED_LABEL]
    live = {
        gone.key: _live(gone),
        other.key: _live(other, source="another"),
        ObjectKey.of(unmanaged): unmanaged,
    }

    plan = planner.plan([], live, source="apps", commit="c2", synced=False)

    assert [obj["metadata"]["name"] for obj in plan.prune] == ["gone"]


def test_a_secrets_string_data_is_compared_as_the_base64_data_the_server_keeps() -> None:
    secret = _desired("v1", "Secret", "db", stringData={"password": "pw"}, data={"user": "dQ=="})
    live = planner.comparable(planner.expected(secret, source="apps", commit="c1"))

    assert "stringData" not in live
    assert live["data"] == {"user": "dQ==", "password": "cHc="}
    plan = planner.plan([secret], {secret.key: live}, source="apps", commit="c1", synced=True)
    assert plan.drifted == ()
