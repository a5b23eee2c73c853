"""kube-apiserver calls a webhook on 127.0.0.1 over TLS, and its denial reaches the client."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.fixtures.webhook import RegisteredWebhook, Review, WebhookServer

pytestmark = [pytest.mark.cluster, pytest.mark.integration]

CONFIGMAP_RULES = [
    {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["configmaps"],
        "scope": "Namespaced",
    }
]


def _deny_names_starting_with_forbidden(review: Review) -> tuple[bool, str]:
    name = review["request"]["object"]["metadata"]["name"]
    if name.startswith("forbidden-"):
        return False, f"{name}: changes to this object must go through Git (apps/config.yaml)"
    return True, ""


def test_a_webhook_denial_reaches_the_client_as_403_with_its_message(
    webhook: Callable[[list[dict[str, Any]]], RegisteredWebhook],
    webhook_server: WebhookServer,
    alice_api: client.ApiClient,
    namespace: str,
) -> None:
    webhook_server.decide = _deny_names_starting_with_forbidden
    webhook(CONFIGMAP_RULES)
    core = client.CoreV1Api(alice_api)

    with pytest.raises(ApiException) as denied:
        core.create_namespaced_config_map(
            namespace,
            client.V1ConfigMap(metadata=client.V1ObjectMeta(name="forbidden-x"), data={"a": "1"}),
        )

    assert denied.value.status == 403
    status = json.loads(denied.value.body or "{}")
    assert "must go through Git (apps/config.yaml)" in status["message"]
    assert "denied the request" in status["message"]


def test_the_webhook_sees_who_asked_and_allowed_requests_go_through(
    webhook: Callable[[list[dict[str, Any]]], RegisteredWebhook],
    webhook_server: WebhookServer,
    alice_api: client.ApiClient,
    namespace: str,
) -> None:
    webhook_server.decide = _deny_names_starting_with_forbidden
    webhook(CONFIGMAP_RULES)

    created = client.CoreV1Api(alice_api).create_namespaced_config_map(
        namespace, client.V1ConfigMap(metadata=client.V1ObjectMeta(name="fine"), data={"a": "1"})
    )

    assert created.metadata.name == "fine"
    [review] = webhook_server.reviews
    assert review["apiVersion"] == "admission.k8s.io/v1"
    request = review["request"]
    assert request["operation"] == "CREATE"
    assert request["namespace"] == namespace
    assert request["userInfo"]["username"] == "alice"
    assert "gatekeeper:developers" in request["userInfo"]["groups"]


def test_webhook_configurations_round_trip_through_admissionregistration_v1(
    webhook: Callable[[list[dict[str, Any]]], RegisteredWebhook], admin_api: client.ApiClient
) -> None:
    registered = webhook(CONFIGMAP_RULES)

    stored = client.AdmissionregistrationV1Api(admin_api).read_validating_webhook_configuration(
        registered.name
    )

    names = [w.name for w in stored.webhooks]
    assert names == [
        f"main.{registered.name}.gatekeeper.dev",
        f"probe.{registered.name}.gatekeeper.dev",
    ]
    assert stored.webhooks[0].client_config.url.startswith("https://127.0.0.1:")
    assert stored.webhooks[0].admission_review_versions == ["v1"]
