"""The static-token users have the rights the tests rely on, and no more."""

from __future__ import annotations

import json

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

pytestmark = [pytest.mark.cluster, pytest.mark.integration]


def _config_map(name: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name), data={"k": "v"})


def test_alice_edits_ordinary_objects_in_a_granted_namespace(
    alice_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(alice_api)

    core.create_namespaced_config_map(namespace, _config_map("alice-notes"))

    assert core.read_namespaced_config_map("alice-notes", namespace).data == {"k": "v"}


def test_alice_is_forbidden_in_kube_system(alice_api: client.ApiClient) -> None:
    core = client.CoreV1Api(alice_api)

    with pytest.raises(ApiException) as listing:
        core.list_namespaced_secret("kube-system")
    with pytest.raises(ApiException) as creating:
        core.create_namespaced_config_map("kube-system", _config_map("sneaky"))

    assert listing.value.status == 403
    assert creating.value.status == 403
    message = json.loads(listing.value.body or "{}")["message"]
    assert 'User "alice" cannot list resource "secrets"' in message


def test_alice_cannot_delete_her_namespace_or_grant_herself_rights(
    alice_api: client.ApiClient, namespace: str
) -> None:
    with pytest.raises(ApiException) as deleting:
        client.CoreV1Api(alice_api).delete_namespace(namespace)
    role = client.V1ClusterRole(
        metadata=client.V1ObjectMeta(name="alice-everything"),
        rules=[client.V1PolicyRule(api_groups=["*"], resources=["*"], verbs=["*"])],
    )
    with pytest.raises(ApiException) as escalating:
        client.RbacAuthorizationV1Api(alice_api).create_cluster_role(role)

    assert deleting.value.status == 403
    assert escalating.value.status == 403


def test_breakglass_has_alices_rights_and_is_forbidden_in_ungranted_namespaces(
    breakglass_api: client.ApiClient, admin_api: client.ApiClient, namespace: str
) -> None:
    core = client.CoreV1Api(breakglass_api)
    core.create_namespaced_config_map(namespace, _config_map("hotfix"))

    with pytest.raises(ApiException) as elsewhere:
        core.create_namespaced_config_map("kube-public", _config_map("hotfix"))

    assert elsewhere.value.status == 403
    stored = client.CoreV1Api(admin_api).read_namespaced_config_map("hotfix", namespace)
    assert stored.data == {"k": "v"}


def test_the_reconciler_cannot_impersonate_but_admin_can_do_anything(
    reconciler_api: client.ApiClient, admin_api: client.ApiClient
) -> None:
    review = client.V1SelfSubjectAccessReview(
        spec=client.V1SelfSubjectAccessReviewSpec(
            resource_attributes=client.V1ResourceAttributes(verb="impersonate", resource="users")
        )
    )
    reconciler = client.AuthorizationV1Api(reconciler_api).create_self_subject_access_review(review)
    admin = client.AuthorizationV1Api(admin_api).create_self_subject_access_review(review)

    assert reconciler.status.allowed is False
    assert admin.status.allowed is True
