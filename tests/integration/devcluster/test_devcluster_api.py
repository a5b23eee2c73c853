"""The local control plane through the official Python client: CRUD and server-side apply."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

APPLY_PATCH = "application/apply-patch+yaml"


def _config_map(name: str, data: dict[str, str]) -> dict[str, Any]:
    return {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name}, "data": data}


def test_a_configmap_is_created_read_updated_and_deleted(
    reconciler_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(reconciler_api)
    created = core.create_namespaced_config_map(
        namespace,
        client.V1ConfigMap(metadata=client.V1ObjectMeta(name="settings"), data={"mode": "a"}),
    )
    assert created.metadata.uid

    read = core.read_namespaced_config_map("settings", namespace)
    assert read.data == {"mode": "a"}

    read.data["mode"] = "b"
    updated = core.replace_namespaced_config_map("settings", namespace, read)
    assert updated.data == {"mode": "b"}
    assert updated.metadata.resource_version != created.metadata.resource_version

    core.delete_namespaced_config_map("settings", namespace)
    with pytest.raises(ApiException) as missing:
        core.read_namespaced_config_map("settings", namespace)
    assert missing.value.status == 404


def test_server_side_apply_records_the_field_manager(
    reconciler_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(reconciler_api)

    applied = core.patch_namespaced_config_map(
        "app",
        namespace,
        _config_map("app", {"replicas": "3"}),
        field_manager="gatekeeper",
        _content_type=APPLY_PATCH,
    )

    managers = {(m.manager, m.operation) for m in applied.metadata.managed_fields}
    assert ("gatekeeper", "Apply") in managers
    assert applied.data == {"replicas": "3"}

    again = core.patch_namespaced_config_map(
        "app",
        namespace,
        _config_map("app", {"replicas": "3"}),
        field_manager="gatekeeper",
        _content_type=APPLY_PATCH,
    )
    assert again.metadata.resource_version == applied.metadata.resource_version


def test_a_second_field_manager_changing_an_owned_field_is_a_conflict(
    reconciler_api: client.ApiClient, alice_api: client.ApiClient, namespace: str
) -> None:
    client.CoreV1Api(reconciler_api).patch_namespaced_config_map(
        "app",
        namespace,
        _config_map("app", {"replicas": "3"}),
        field_manager="gatekeeper",
        _content_type=APPLY_PATCH,
    )
    alice = client.CoreV1Api(alice_api)

    with pytest.raises(ApiException) as conflict:
        alice.patch_namespaced_config_map(
            "app",
            namespace,
            _config_map("app", {"replicas": "5"}),
            field_manager="kubectl-edit",
            _content_type=APPLY_PATCH,
        )
    assert conflict.value.status == 409
    assert "gatekeeper" in (conflict.value.body or "")

    forced = alice.patch_namespaced_config_map(
        "app",
        namespace,
        _config_map("app", {"replicas": "5"}),
        field_manager="kubectl-edit",
        force=True,
        _content_type=APPLY_PATCH,
    )
    assert forced.data == {"replicas": "5"}
    owners = {m.manager for m in forced.metadata.managed_fields if m.operation == "Apply"}
    assert "kubectl-edit" in owners


def test_the_reconciler_applies_workloads_and_leases_and_lists_across_namespaces(
    reconciler_api: client.ApiClient, namespace: str
) -> None:
    apps = client.AppsV1Api(reconciler_api)
    deployment = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "web", "labels": {"gatekeeper.dev/managed": "true"}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web"}},
                "spec": {"containers": [{"name": "web", "image": "nginx:1.25"}]},
            },
        },
    }
    applied = apps.patch_namespaced_deployment(
        "web", namespace, deployment, field_manager="gatekeeper", _content_type=APPLY_PATCH
    )
    assert applied.spec.replicas == 1

    listed = apps.list_deployment_for_all_namespaces(label_selector="gatekeeper.dev/managed=true")
    assert (namespace, "web") in {(d.metadata.namespace, d.metadata.name) for d in listed.items}

    leases = client.CoordinationV1Api(reconciler_api)
    lease = leases.create_namespaced_lease(
        namespace,
        client.V1Lease(
            metadata=client.V1ObjectMeta(name="reconciler-leader"),
            spec=client.V1LeaseSpec(holder_identity="reconciler-0", lease_duration_seconds=15),
        ),
    )
    assert lease.spec.holder_identity == "reconciler-0"

    apps.delete_namespaced_deployment("web", namespace)
    leases.delete_namespaced_lease("reconciler-leader", namespace)
    assert not apps.list_namespaced_deployment(namespace).items
