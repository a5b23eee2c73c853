"""The webhook follows the cluster's Namespaces: constraints select objects by namespace label."""

from __future__ import annotations

import json
import os
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from kubernetes import client

from gatekeeper.admission.namespaces import NamespaceWatch
from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.store import AuditStore
from gatekeeper.errors import ConfigError
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.policy.inputs import admission_input
from gatekeeper.settings import Settings
from tests.fixtures.cluster import NAMESPACE_LABEL, Cluster
from tests.fixtures.webhook import api_server_context
from tests.integration.admission.test_webhook_cluster import RunningWebhook, refused, serving

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]

SUITES = Path(__file__).resolve().parents[2] / "data" / "gatekeeper"
RULES = [
    {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["configmaps"],
        "scope": "Namespaced",
    }
]


def owner_required_in_prod(folder: Path) -> Path:
    folder.mkdir()
    shutil.copy(SUITES / "requiredlabels" / "template.yaml", folder / "template.yaml")
    constraint = {
        "apiVersion": "constraints.gatekeeper.sh/v1beta1",
        "kind": "K8sRequiredLabels",
        "metadata": {"name": "owner-in-prod"},
        "spec": {
            "match": {
                "kinds": [{"apiGroups": [""], "kinds": ["ConfigMap"]}],
                "namespaceSelector": {"matchLabels": {"env": "prod"}},
            },
            "parameters": {"labels": [{"key": "owner"}]},
        },
    }
    (folder / "constraint.yaml").write_text(yaml.safe_dump(constraint))
    return folder


@contextmanager
def watching_webhook(
    tmp_path: Path,
    kubeconfig: Path,
    admin_api: client.ApiClient,
    *,
    namespace: str,
    policies: dict[str, Any],
    rules: list[dict[str, Any]],
    created: list[str],
) -> Iterator[RunningWebhook]:
    """The webhook on a fresh SQLite store, following the cluster through `kubeconfig`."""
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    engine = create_database_engine(url)
    migrate.upgrade(engine)
    store = AuditStore(engine)
    settings = Settings(
        database={"url": url},
        kubernetes={"kubeconfig": kubeconfig},
        policies=policies,
        admission={"reconcilerIdentity": "reconciler", "namespaceLabels": "watch"},
    )
    try:
        with serving(
            settings, store, tmp_path, admin_api, namespace=namespace, rules=rules, created=created
        ) as running:
            yield running
    finally:
        store.close()


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
        policies={"paths": [owner_required_in_prod(tmp_path / "constraints")]},
        rules=RULES,
        created=registered_webhooks,
    ) as running:
        yield running


def _config_map(name: str, **labels: str) -> client.V1ConfigMap:
    return client.V1ConfigMap(metadata=client.V1ObjectMeta(name=name, labels=labels or None))


def test_a_constraint_follows_a_namespace_label_as_it_changes(
    webhook: RunningWebhook,
    namespace: str,
    admin_api: client.ApiClient,
    alice_api: client.ApiClient,
) -> None:
    core = client.CoreV1Api(alice_api)
    assert httpx.get(webhook.url("/readyz"), verify=False).status_code == 200
    core.create_namespaced_config_map(namespace, _config_map("before"))

    client.CoreV1Api(admin_api).patch_namespace(
        namespace, {"metadata": {"labels": {"env": "prod"}}}
    )
    deadline = time.monotonic() + 10
    while True:
        try:
            core.create_namespaced_config_map(namespace, _config_map("probe-label"), dry_run="All")
        except client.ApiException as exc:
            assert exc.status == 403
            break
        assert time.monotonic() < deadline, "the webhook never saw the namespace's new label"
        time.sleep(0.1)

    message = refused(lambda: core.create_namespaced_config_map(namespace, _config_map("after")))
    assert "owner" in message
    core.create_namespaced_config_map(namespace, _config_map("owned", owner="alice"))


def test_an_object_in_a_namespace_created_a_moment_ago_is_checked_at_once(
    webhook: RunningWebhook,
    namespace: str,
    admin_api: client.ApiClient,
    registered_webhooks: list[str],
) -> None:
    core = client.CoreV1Api(admin_api)
    fresh = f"{namespace}-new"
    core.create_namespace(
        client.V1Namespace(
            metadata=client.V1ObjectMeta(
                name=fresh, labels={"env": "prod", NAMESPACE_LABEL: namespace}
            )
        )
    )
    # No wait for the watch: the webhook reads a namespace it has not seen yet.
    message = refused(lambda: core.create_namespaced_config_map(fresh, _config_map("x")))
    assert "owner" in message


def test_a_namespace_the_webhook_has_not_seen_is_answered_as_configured(
    webhook: RunningWebhook,
) -> None:
    review = {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": "6d1f0c9e-0000-4000-8000-00000000beef",
            "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
            "resource": {"group": "", "version": "v1", "resource": "configmaps"},
            "namespace": "not-created-yet",
            "name": "c",
            "operation": "CREATE",
            "userInfo": {"username": "alice", "groups": []},
            "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
        },
    }

    context = api_server_context(webhook.tls)
    answer = httpx.post(webhook.url(), content=json.dumps(review), verify=context).json()

    response = answer["response"]
    # failClosed is on by default: no silent pass for a constraint that could not be matched.
    assert response["allowed"] is False
    assert (
        "labels of namespace 'not-created-yet' are not known yet" in response["status"]["message"]
    )


def test_stopping_the_watch_cuts_its_connection_at_once(
    tmp_path: Path, cluster: Cluster, namespace: str
) -> None:
    evaluator = PolicyEvaluator.from_paths(
        [owner_required_in_prod(tmp_path / "constraints")], engine=create_engine("regorus")
    )
    settings = Settings(
        kubernetes={"kubeconfig": cluster.admin_kubeconfig},
        admission={"namespaceLabels": "watch"},
    )
    watch = NamespaceWatch.from_settings(settings, evaluator)
    assert watch is not None
    watch.start()
    assert watch.ready.wait(10)
    time.sleep(0.3)  # into the watch, which the server would hold open for a minute

    started = time.monotonic()
    watch.stop()

    assert watch.join(5), "the watch thread did not end"
    assert time.monotonic() - started < 2


def test_without_cluster_settings_the_webhook_does_not_watch(tmp_path: Path) -> None:
    evaluator = PolicyEvaluator.from_paths(
        [owner_required_in_prod(tmp_path / "constraints")], engine=create_engine("regorus")
    )
    assert NamespaceWatch.from_settings(Settings(), evaluator) is None or (
        "KUBERNETES_SERVICE_HOST" in os.environ
    )
    with pytest.raises(ConfigError, match="namespaceLabels: cannot reach the cluster"):
        NamespaceWatch.from_settings(
            Settings(
                kubernetes={"kubeconfig": tmp_path / "missing.yaml"},
                admission={"namespaceLabels": "watch"},
            ),
            evaluator,
        )


def test_a_lookup_reads_a_namespace_the_watch_has_not_reported(
    tmp_path: Path, cluster: Cluster, namespace: str, admin_api: client.ApiClient
) -> None:
    evaluator = PolicyEvaluator.from_paths(
        [owner_required_in_prod(tmp_path / "constraints")], engine=create_engine("regorus")
    )
    settings = Settings(
        kubernetes={"kubeconfig": cluster.admin_kubeconfig},
        admission={"namespaceLabels": "watch"},
    )
    watch = NamespaceWatch.from_settings(settings, evaluator)
    assert watch is not None  # never started: only lookups fill it
    client.CoreV1Api(admin_api).patch_namespace(
        namespace, {"metadata": {"labels": {"env": "prod"}}}
    )

    assert watch.lookup(namespace) == {"env": "prod", NAMESPACE_LABEL: namespace}
    assert watch.lookup(f"{namespace}-missing") is None
    evaluator.refuse_unknown_namespaces(watch.lookup)
    review = {
        "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
        "namespace": namespace,
        "operation": "CREATE",
        "object": {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}},
    }
    assert not evaluator.evaluate(admission_input(review)).allowed
