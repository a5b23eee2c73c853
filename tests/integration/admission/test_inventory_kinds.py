"""Referential policies in the webhook: the kinds of `policies.inventory` are followed."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from gatekeeper.admission.namespaces import NamespaceWatch
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.settings import Settings
from tests.fixtures.cluster import Cluster
from tests.integration.admission.test_namespace_labels import watching_webhook
from tests.integration.admission.test_webhook_cluster import RunningWebhook, refused

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]

SUITES = Path(__file__).resolve().parents[2] / "data" / "gatekeeper"
RULES = [
    {
        "apiGroups": ["networking.k8s.io"],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["ingresses"],
        "scope": "Namespaced",
    }
]


def unique_ingress_hosts(folder: Path) -> Path:
    """Gatekeeper's K8sUniqueIngressHost, on every Ingress."""
    folder.mkdir()
    shutil.copy(SUITES / "uniqueingresshost" / "template.yaml", folder / "template.yaml")
    constraint = {
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "K8sUniqueIngressHost",
        "metadata": {"name": "unique-ingress-host"},
        "spec": {"match": {"kinds": [{"apiGroups": ["networking.k8s.io"], "kinds": ["Ingress"]}]}},
    }
    (folder / "constraint.yaml").write_text(yaml.safe_dump(constraint))
    return folder


def ingress(name: str, host: str) -> dict[str, Any]:
    backend = {"service": {"name": "web", "port": {"number": 80}}}
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "Ingress",
        "metadata": {"name": name},
        "spec": {
            "rules": [
                {
                    "host": host,
                    "http": {"paths": [{"path": "/", "pathType": "Prefix", "backend": backend}]},
                }
            ]
        },
    }


@pytest.fixture
def webhook(
    tmp_path: Path,
    cluster: Cluster,
    admin_api: client.ApiClient,
    namespace: str,
    registered_webhooks: list[str],
) -> Iterator[RunningWebhook]:
    with watching_webhook(
        tmp_path,
        cluster.admin_kubeconfig,
        admin_api,
        namespace=namespace,
        policies={
            "paths": [unique_ingress_hosts(tmp_path / "constraints")],
            "inventory": ["networking.k8s.io/v1/Ingress"],
        },
        rules=RULES,
        created=registered_webhooks,
    ) as running:
        yield running


def test_an_ingress_whose_host_another_one_has_is_refused(
    webhook: RunningWebhook,
    namespace: str,
    admin_api: client.ApiClient,
    alice_api: client.ApiClient,
) -> None:
    networking = client.NetworkingV1Api(alice_api)
    # Hosts of this test only: Ingresses of every namespace are compared.
    taken, free = f"shop.{namespace}.example.com", f"blog.{namespace}.example.com"
    client.NetworkingV1Api(admin_api).create_namespaced_ingress(namespace, ingress("first", taken))
    deadline = time.monotonic() + 10
    while True:  # until the webhook's watch has reported the first Ingress
        try:
            networking.create_namespaced_ingress(
                namespace, ingress("probe-host", taken), dry_run="All"
            )
        except client.ApiException as exc:
            assert exc.status == 403
            break
        assert time.monotonic() < deadline, "the webhook never saw the first Ingress"
        time.sleep(0.1)

    message = refused(
        lambda: networking.create_namespaced_ingress(namespace, ingress("second", taken))
    )

    assert f"ingress host conflicts with an existing ingress <{taken}>" in message
    networking.create_namespaced_ingress(namespace, ingress("third", free))


def test_a_kind_the_cluster_does_not_serve_holds_back_nothing_else(
    tmp_path: Path, cluster: Cluster
) -> None:
    evaluator = PolicyEvaluator.from_paths(
        [unique_ingress_hosts(tmp_path / "constraints")], engine=create_engine("regorus")
    )
    settings = Settings(
        kubernetes={"kubeconfig": cluster.admin_kubeconfig},
        policies={"inventory": ["example.com/v1/Nothing", "networking.k8s.io/v1/Ingress"]},
        admission={"namespaceLabels": "watch"},
    )
    watch = NamespaceWatch.from_settings(settings, evaluator)
    assert watch is not None
    watch.start()
    try:
        assert watch.ready.wait(10), "an unknown kind kept the Namespaces from being ready"
    finally:
        watch.stop()
    assert watch.join(5)
