"""Subresources and requests without objects: what the decision refuses that it used to admit."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gatekeeper.admission.decision import review, undecided
from gatekeeper.kube import contract
from gatekeeper.settings import AdmissionSettings
from tests.unit.admission.doubles import (
    RECONCILER,
    MemoryLedger,
    MemoryPolicies,
    deployment,
    live,
    request,
)

SETTINGS = AdmissionSettings(
    reconciler_identity=RECONCILER,
    exempt_subresources=["status"],
    exempt_users=["system:serviceaccount:kube-system:hpa"],
    guarded_namespaces=["shop", "kube-system"],
)
BREAK_GLASS = ("gatekeeper:break-glass",)


def _decide(operation: str, **given: Any) -> Any:
    return review(
        request(operation, **given),
        settings=SETTINGS,
        ledger=MemoryLedger(),
        policies=MemoryPolicies(),
    )


def _status_update(obj: dict[str, Any]) -> dict[str, Any]:
    updated = copy.deepcopy(obj)
    updated["status"] = {"observedGeneration": 2, "replicas": 2, "readyReplicas": 2}
    return updated


def _without(obj: dict[str, Any], place: str, key: str) -> dict[str, Any]:
    changed = copy.deepcopy(obj)
    del changed["metadata"][place][key]
    return changed


def _with(obj: dict[str, Any], place: str, key: str, value: str) -> dict[str, Any]:
    changed = copy.deepcopy(obj)
    changed["metadata"].setdefault(place, {})[key] = value
    return changed


OLD = live(deployment())
CHANGES = {
    "commit removed": (
        _without(OLD, "annotations", contract.COMMIT_ANNOTATION),
        contract.COMMIT_ANNOTATION,
    ),
    "source rewritten": (
        _with(OLD, "annotations", contract.SOURCE_ANNOTATION, "elsewhere"),
        contract.SOURCE_ANNOTATION,
    ),
    "digest rewritten": (
        _with(OLD, "annotations", contract.DIGEST_ANNOTATION, "sha256:" + "0" * 64),
        contract.DIGEST_ANNOTATION,
    ),
    "label removed": (_without(OLD, "labels", contract.MANAGED_LABEL), contract.MANAGED_LABEL),
    "break-glass added": (
        _with(OLD, "annotations", contract.BREAK_GLASS_ANNOTATION, "INC-1"),
        contract.BREAK_GLASS_ANNOTATION,
    ),
    "all labels and annotations dropped": (
        {**OLD, "metadata": {"name": "web", "namespace": "shop"}},
        contract.MANAGED_LABEL,
    ),
}


@pytest.mark.parametrize("change", CHANGES.values(), ids=CHANGES.keys())
@pytest.mark.parametrize("sub_resource", ["status", "scale", "finalize"])
@pytest.mark.parametrize(
    ("user", "groups"), [("alice", ()), (RECONCILER, ()), ("bob", BREAK_GLASS)]
)
def test_no_subresource_changes_provenance_metadata_whoever_asks(
    change: tuple[dict[str, Any], str], sub_resource: str, user: str, groups: tuple[str, ...]
) -> None:
    new, mark = change
    verdict = _decide(
        "UPDATE",
        obj=_status_update(new),
        old=OLD,
        user=user,
        groups=groups,
        sub_resource=sub_resource,
    )
    assert not verdict.allowed
    assert verdict.managed
    assert f"provenance metadata {mark} cannot be set, changed or removed" in verdict.message
    assert f"through the {sub_resource} subresource" in verdict.message


def test_provenance_metadata_cannot_be_added_to_an_unmanaged_object_through_status() -> None:
    plain = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "c", "namespace": "shop"},
    }
    forged = contract.annotate(plain, source="apps", commit="c" * 40)
    verdict = _decide("UPDATE", obj=forged, old=plain, sub_resource="status")
    assert not verdict.allowed and verdict.managed


def test_a_subresource_create_carrying_provenance_annotations_is_refused() -> None:
    # A pods/binding copies its annotations onto the Pod.
    binding = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {
            "name": "web-1",
            "namespace": "shop",
            "annotations": {contract.COMMIT_ANNOTATION: "c" * 40},
        },
        "target": {"kind": "Node", "name": "node-1"},
    }
    verdict = _decide("CREATE", obj=binding, sub_resource="binding")
    assert not verdict.allowed
    assert contract.COMMIT_ANNOTATION in verdict.message
    plain = copy.deepcopy(binding)
    del plain["metadata"]["annotations"]
    assert _decide("CREATE", obj=plain, sub_resource="binding").allowed


def test_a_plain_status_update_of_a_managed_object_stays_allowed_without_policies() -> None:
    policies = MemoryPolicies()
    verdict = review(
        request("UPDATE", obj=_status_update(OLD), old=OLD, sub_resource="status"),
        settings=SETTINGS,
        ledger=MemoryLedger(),
        policies=policies,
    )
    assert verdict.allowed
    assert verdict.reasons == ("subresource status is exempt",)
    assert policies.calls == []


def test_other_labels_and_annotations_may_change_through_status() -> None:
    changed = _with(_with(OLD, "labels", "tier", "web"), "annotations", "note", "hello")
    assert _decide("UPDATE", obj=changed, old=OLD, sub_resource="status").allowed


@pytest.mark.parametrize(
    ("namespace", "user", "reason"),
    [
        ("kube-system", "alice", "namespace kube-system is exempt"),
        ("shop", "system:serviceaccount:kube-system:hpa", "is exempt"),
        ("elsewhere", "alice", "namespace elsewhere is not guarded"),
    ],
)
def test_exempt_and_unguarded_namespaces_and_exempt_users_stay_out(
    namespace: str, user: str, reason: str
) -> None:
    settings = AdmissionSettings(
        reconciler_identity=RECONCILER,
        exempt_users=["system:serviceaccount:kube-system:hpa"],
        exempt_namespaces=["kube-system"],
        guarded_namespaces=["shop", "kube-system"],
    )
    old = live(deployment(namespace=namespace))
    new = _without(old, "annotations", contract.COMMIT_ANNOTATION)
    verdict = review(
        request("UPDATE", obj=new, old=old, user=user, sub_resource="status"),
        settings=settings,
        ledger=MemoryLedger(),
        policies=MemoryPolicies(),
    )
    assert verdict.allowed
    assert reason in verdict.reasons[0]


def test_a_node_heartbeat_through_status_is_allowed() -> None:
    node = {"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1", "labels": {}}}
    beat = copy.deepcopy(node)
    beat["status"] = {"conditions": [{"type": "Ready", "status": "True"}]}
    settings = AdmissionSettings(reconciler_identity=RECONCILER)
    verdict = review(
        request("UPDATE", obj=beat, old=node, user="system:node:node-1", sub_resource="status"),
        settings=settings,
        ledger=MemoryLedger(),
        policies=MemoryPolicies(),
    )
    assert verdict.allowed and verdict.reasons == ("subresource status is exempt",)


@pytest.mark.parametrize(
    ("user", "groups"), [("alice", ()), (RECONCILER, ()), ("bob", BREAK_GLASS)]
)
def test_a_delete_with_neither_object_nor_old_object_is_refused_when_guarded(
    user: str, groups: tuple[str, ...]
) -> None:
    bare = request("DELETE", user=user, groups=groups)
    bare.update(name="web", namespace="shop")
    bare["kind"] = {"group": "apps", "version": "v1", "kind": "Deployment"}
    verdict = review(bare, settings=SETTINGS, ledger=MemoryLedger(), policies=MemoryPolicies())
    assert not verdict.allowed
    assert "DELETE of apps/Deployment/shop/web refused" in verdict.message
    assert "carries no oldObject" in verdict.message
    lenient = AdmissionSettings(reconciler_identity=RECONCILER, fail_closed=False)
    assert not undecided(bare, settings=lenient, cause="down").allowed
    bare["namespace"] = "elsewhere"
    unguarded = review(bare, settings=SETTINGS, ledger=MemoryLedger(), policies=MemoryPolicies())
    assert unguarded.allowed and unguarded.reasons == ("namespace elsewhere is not guarded",)


@pytest.mark.parametrize("metadata", [["web"], "web", {"labels": "x"}])
def test_the_fallback_answer_never_fails_on_an_object_it_cannot_read(metadata: Any) -> None:
    # The parser refuses such objects; should one get through, the fallback that answers a
    # failed decision must not fail on it again: it refuses, as for a managed object.
    lenient = AdmissionSettings(reconciler_identity=RECONCILER, fail_closed=False)
    bare = request("UPDATE", obj=OLD, old=OLD)
    broken = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": metadata}
    bare.update(object=broken, oldObject=broken)
    verdict = undecided(bare, settings=lenient, cause="the decision failed")
    assert not verdict.allowed and verdict.managed
    assert verdict.subject == "apps/Deployment/shop/web"
    assert "the decision failed" in verdict.message
