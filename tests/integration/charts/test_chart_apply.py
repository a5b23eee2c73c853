"""The whole rendered chart applied for real with server-side apply on kube-apiserver 1.20
(not only a dry run), twice, the way `kubectl apply --server-side` and GitOps tools install it;
and the namespaces the webhook must never guard are excluded on every Kubernetes version."""

from __future__ import annotations

import base64
import secrets
from collections.abc import Iterator
from typing import Any

import pytest

from gatekeeper.kube.client import KubeClient
from gatekeeper.kube.errors import KubeError
from tests.integration.charts.test_chart import EVERYTHING, FOLDER_WITNESS, by_name, render

pytestmark = pytest.mark.cluster

MANAGER = "chart-test"
NAME_LABEL = "kubernetes.io/metadata.name"


def _isolated(values: dict[str, Any], suffix: str) -> dict[str, Any]:
    """Values whose cluster-wide objects are this test's own, and whose webhook reaches no
    other test: it selects only namespaces with a label nobody has and lets requests through
    while no webhook Pod answers (there are no nodes)."""
    dashboard = {**values.get("dashboard", {})}
    dashboard["roles"] = {"auditor": f"auditor-{suffix}", "reportMaker": f"maker-{suffix}"}
    webhook = {**values.get("webhook", {})}
    webhook["failurePolicy"] = "Ignore"
    webhook["namespaceSelector"] = {"matchLabels": {f"chart-test-{suffix}": "guarded"}}
    return {**values, "dashboard": dashboard, "webhook": webhook}


@pytest.fixture
def kube(admin_api: Any) -> Iterator[KubeClient]:
    client = KubeClient(admin_api, field_manager=MANAGER)
    yield client


def _apply_all(kube: KubeClient, documents: list[dict[str, Any]], namespace: str) -> list[Any]:
    """Server-side apply of every object; the cluster-scoped ones, for cleaning up."""
    cluster_wide = []
    failures = []
    for manifest in documents:
        resource = kube.resource_for(manifest["apiVersion"], manifest["kind"])
        body = dict(manifest)
        if resource.namespaced:
            body["metadata"] = {"namespace": namespace, **manifest["metadata"]}
        else:
            cluster_wide.append((resource, manifest["metadata"]["name"]))
        try:
            kube.apply(body, resource)
        except KubeError as exc:
            failures.append(f"{manifest['kind']}/{manifest['metadata']['name']}: {exc}")
    assert not failures, "\n".join(failures)
    return cluster_wide


@pytest.mark.parametrize(
    "values",
    [{}, EVERYTHING, FOLDER_WITNESS],
    ids=["defaults", "everything", "folder-witness"],
)
def test_every_object_of_the_chart_applies_server_side_and_applies_again(
    kube: KubeClient, namespace: str, values: dict[str, Any]
) -> None:
    suffix = secrets.token_hex(4)
    release = f"ssa-{suffix}"
    documents = render(namespace, _isolated(values, suffix), release=release)
    cluster_wide: list[Any] = []
    try:
        cluster_wide = _apply_all(kube, documents, namespace)
        # Applying the same objects again is accepted too (what every upgrade does).
        _apply_all(kube, documents, namespace)
        service = kube.get(kube.resource_for("v1", "Service"), f"{release}-webhook", namespace)
        assert service["spec"]["ports"][0]["protocol"] == "TCP"
    finally:
        for resource, name in cluster_wide:
            kube.delete(resource, name)


def test_the_ca_bundle_patched_in_survives_a_new_apply_of_the_chart(
    kube: KubeClient, namespace: str
) -> None:
    """The webhook (or cert-manager) fills in the caBundle after the install; applying the
    chart again, as every upgrade does, must keep it, since the chart does not set it."""
    suffix = secrets.token_hex(4)
    release = f"ssa-{suffix}"
    documents = render(namespace, _isolated({}, suffix), release=release)
    configuration = by_name(documents, "ValidatingWebhookConfiguration", release)
    resource = kube.resource_for(configuration["apiVersion"], configuration["kind"])
    try:
        kube.apply(configuration, resource)
        live = kube.get(resource, release)
        bundle = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n").decode()
        live["webhooks"][0]["clientConfig"]["caBundle"] = bundle
        kube.replace(resource, live)
        kube.apply(configuration, resource)
        assert kube.get(resource, release)["webhooks"][0]["clientConfig"]["caBundle"] == bundle
    finally:
        kube.delete(resource, release)
