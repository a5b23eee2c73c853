from __future__ import annotations

import pytest

from gatekeeper.policy.inventory import build_inventory, namespace_labels

NAMESPACE = {
    "apiVersion": "v1",
    "kind": "Namespace",
    "metadata": {"name": "shop", "labels": {"env": "prod"}},
}
INGRESS = {
    "apiVersion": "networking.k8s.io/v1",
    "kind": "Ingress",
    "metadata": {"name": "web", "namespace": "shop"},
}


def test_objects_land_in_gatekeepers_layout() -> None:
    inventory = build_inventory([NAMESPACE, INGRESS])
    assert inventory["cluster"]["v1"]["Namespace"]["shop"] == NAMESPACE
    assert inventory["namespace"]["shop"]["networking.k8s.io/v1"]["Ingress"]["web"] == INGRESS


def test_an_empty_inventory_still_has_both_roots() -> None:
    assert build_inventory([]) == {"cluster": {}, "namespace": {}}


def test_namespace_labels_come_from_namespace_objects() -> None:
    inventory = build_inventory([NAMESPACE])
    assert namespace_labels(inventory, "shop") == {"env": "prod"}
    assert namespace_labels(inventory, "other") is None


def test_objects_without_identity_are_refused() -> None:
    with pytest.raises(ValueError, match=r"metadata\.name"):
        build_inventory([{"apiVersion": "v1", "kind": "Pod", "metadata": {}}])
