from __future__ import annotations

from typing import Any

import pytest

from gatekeeper.policy.inputs import (
    Provenance,
    admission_input,
    input_from_document,
    resource_for,
    sync_input,
)

DEPLOYMENT: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web"},
    "spec": {},
}


def test_a_manifest_becomes_an_admission_shaped_create_review() -> None:
    provenance = Provenance(
        source="apps",
        repo="/srv/gitops",
        commit="a" * 40,
        path="apps/web.yaml",
        verified=True,
        trusted=True,
        signature_format="ssh",
        signer="alice",
        key_id="SHA256:abc",
    )
    document = sync_input(DEPLOYMENT, provenance=provenance, namespace="shop", username="gk")
    review = document["review"]
    assert review["kind"] == {"group": "apps", "version": "v1", "kind": "Deployment"}
    assert review["resource"] == {"group": "apps", "version": "v1", "resource": "deployments"}
    assert (review["name"], review["namespace"], review["operation"]) == ("web", "shop", "CREATE")
    assert review["object"] == DEPLOYMENT and review["object"] is not DEPLOYMENT
    assert review["userInfo"] == {"username": "gk", "groups": []}
    assert document["parameters"] == {}
    assert document["provenance"] == {
        "phase": "sync",
        "source": "apps",
        "repo": "/srv/gitops",
        "commit": "a" * 40,
        "path": "apps/web.yaml",
        "verified": True,
        "trusted": True,
        "signature": {"format": "ssh", "signer": "alice", "key_id": "SHA256:abc"},
    }


def test_an_existing_live_object_makes_the_sync_an_update() -> None:
    document = sync_input(DEPLOYMENT, old_object=DEPLOYMENT)
    assert document["review"]["operation"] == "UPDATE"
    assert document["review"]["oldObject"] == DEPLOYMENT


def test_the_manifest_namespace_wins_over_the_default() -> None:
    manifest = {**DEPLOYMENT, "metadata": {"name": "web", "namespace": "team"}}
    assert sync_input(manifest, namespace="shop")["review"]["namespace"] == "team"


def test_an_admission_request_keeps_its_fields_and_gets_provenance() -> None:
    request = {
        "uid": "u1",
        "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
        "name": "web",
        "namespace": "shop",
        "operation": "DELETE",
        "userInfo": {"username": "alice", "groups": ["dev"]},
        "oldObject": DEPLOYMENT,
        "object": None,
    }
    document = admission_input(request)
    assert document["review"]["oldObject"] == DEPLOYMENT
    assert document["review"]["operation"] == "DELETE"
    assert document["review"]["dryRun"] is False
    assert document["provenance"]["phase"] == "admission"
    assert document["provenance"]["verified"] is False


def test_an_admission_request_without_kind_takes_it_from_the_object() -> None:
    assert admission_input({"object": DEPLOYMENT})["review"]["kind"]["kind"] == "Deployment"


def test_documents_for_policy_eval_are_recognised_by_shape() -> None:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {"uid": "x", "object": DEPLOYMENT},
    }
    assert input_from_document(review)["provenance"]["phase"] == "admission"
    prepared = input_from_document({"review": {"object": DEPLOYMENT}})
    assert prepared["parameters"] == {} and prepared["provenance"]["phase"] == "sync"
    assert input_from_document(DEPLOYMENT)["review"]["object"] == DEPLOYMENT


@pytest.mark.parametrize(
    ("kind", "plural"),
    [
        ("Ingress", "ingresses"),
        ("NetworkPolicy", "networkpolicies"),
        ("Deployment", "deployments"),
        ("ClusterRole", "clusterroles"),
        ("Endpoints", "endpoints"),
        ("Gateway", "gateways"),
        ("Proxy", "proxies"),
    ],
)
def test_resources_are_the_plural_the_api_server_uses(kind: str, plural: str) -> None:
    assert resource_for({"apiVersion": "x/v1", "kind": kind})["resource"] == plural


def test_a_manifest_nested_deeper_than_the_stack_is_copied_whole() -> None:
    # The reconciler allows maxYamlDepth up to 500; copy.deepcopy ran out of stack below that.
    manifest: dict[str, Any] = {"apiVersion": "v1", "kind": "ConfigMap"}
    node = manifest
    for _ in range(3000):
        node["data"] = {"list": [{}]}
        node = node["data"]["list"][0]
    copied = sync_input(manifest)["review"]["object"]
    depth, node, original = 0, copied, manifest
    while "data" in original:
        assert node is not original and node["data"]["list"] is not original["data"]["list"]
        node, original = node["data"]["list"][0], original["data"]["list"][0]
        depth += 1
    assert depth == 3000 and node == {}


def test_a_value_shared_by_yaml_aliases_is_copied_once() -> None:
    shared = {"a": [1, 2]}
    manifest: dict[str, Any] = {"kind": "ConfigMap", "data": {"x": shared, "y": shared}}
    copied = sync_input(manifest)["review"]["object"]
    assert copied["data"]["x"] is copied["data"]["y"]
    assert copied["data"]["x"] is not shared and copied == manifest
