"""The real webhook behind the local kube-apiserver: who may change Git-managed objects.

The app runs under uvicorn with TLS on 127.0.0.1 in this process, registered with a caBundle;
requests come from the cluster's static-token users (admin, reconciler, alice, breakglass).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gatekeeper.admission import server as admission_server
from gatekeeper.admission.app import create_app
from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.events import Record
from gatekeeper.audit.ledger import Ledger
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.verify import verify_store
from gatekeeper.devcluster.identities import BREAK_GLASS_GROUP, RECONCILER
from gatekeeper.kube import compare, contract
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.settings import Settings
from tests.fixtures.cluster import APPLY_PATCH
from tests.fixtures.webhook import (
    WebhookTLS,
    guarded_rules,
    make_webhook_tls,
    register_webhook,
    with_client_auth,
)

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]
SOURCE = "apps"
COMMIT = "3f" * 20
PATH = "apps/web/deployment.yaml"
# Subresources too: provenance metadata must not change through `status` either.
RULES = guarded_rules(("apps", "deployments"), ("", "configmaps"))


def deployment(
    namespace: str, name: str = "web", image: str = "registry.example.com/web:1.4.2"
) -> dict[str, Any]:
    """A Deployment the shipped policy library accepts."""
    labels = {"app.kubernetes.io/name": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "namespace": namespace, "labels": labels},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {
                    "securityContext": {"runAsNonRoot": True},
                    "containers": [
                        {
                            "name": "web",
                            "image": image,
                            "resources": {
                                "requests": {"cpu": "100m", "memory": "128Mi"},
                                "limits": {"cpu": "500m", "memory": "256Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "capabilities": {"drop": ["ALL"]},
                            },
                        }
                    ],
                },
            },
        },
    }


@dataclass
class RunningWebhook:
    """The real app serving on 127.0.0.1, in the shape `register_webhook` expects."""

    tls: WebhookTLS
    store: AuditStore
    thread: admission_server.ServerThread
    namespace: str = ""
    registered: list[str] = field(default_factory=list)

    def url(self, path: str = "/validate") -> str:
        return f"https://127.0.0.1:{self.thread.port}{path}"

    @property
    def probes(self) -> list[Record]:
        """Readiness probes the webhook has decided on (it records every decision)."""
        return [r for r in self.records() if r.subject.endswith("-probe")]

    def records(self) -> list[Record]:
        return self.store.query(limit=10_000).records

    def decisions(self) -> list[Record]:
        """The webhook's records; the ledger's own (`ledger.recorded`) are the reconciler's."""
        return [
            r
            for r in self.records()
            if not r.subject.endswith("-probe") and not r.kind.startswith("ledger.")
        ]


@contextmanager
def serving(
    settings: Settings,
    store: AuditStore,
    folder: Path,
    admin_api: client.ApiClient,
    *,
    namespace: str,
    rules: list[dict[str, Any]],
    created: list[str],
) -> Iterator[RunningWebhook]:
    """The real app for `settings` over TLS on 127.0.0.1 (certificates under `folder`),
    registered for `rules` in `namespace`; stopped on leaving. The store stays the caller's."""
    tls = make_webhook_tls(folder / "tls")
    listen = admission_server.Listen(
        host="127.0.0.1", port=0, cert_file=tls.cert_file, key_file=tls.key_file
    )
    thread = admission_server.ServerThread(
        admission_server.build_server(
            create_app(with_client_auth(settings, tls), store=store), listen
        ),
        admission_server.bind("127.0.0.1"),
    )
    thread.start()
    webhook = RunningWebhook(tls=tls, store=store, thread=thread, namespace=namespace)
    try:
        register_webhook(
            admin_api,
            webhook,  # type: ignore[arg-type]
            namespace=namespace,
            rules=rules,
            created=created,
        )
        yield webhook
    finally:
        thread.stop()


@pytest.fixture
def start_webhook(
    tmp_path: Path, admin_api: client.ApiClient, registered_webhooks: list[str]
) -> Iterator[Callable[..., RunningWebhook]]:
    numbers = itertools.count()
    with ExitStack() as running:

        def start(namespace: str, **admission: Any) -> RunningWebhook:
            folder = tmp_path / f"webhook-{next(numbers)}"
            engine = create_database_engine(f"sqlite:///{folder / 'audit.db'}")
            folder.mkdir()
            migrate.upgrade(engine)
            store = AuditStore(engine)
            running.callback(store.close)
            settings = Settings(
                database={"url": f"sqlite:///{folder / 'audit.db'}"},
                policies={"paths": [str(ROOT / "policies")]},
                admission={
                    "reconcilerIdentity": RECONCILER.username,
                    "breakGlassGroups": [BREAK_GLASS_GROUP],
                    "guardedKinds": ["Deployment"],
                    **admission,
                },
            )
            return running.enter_context(
                serving(
                    settings,
                    store,
                    folder,
                    admin_api,
                    namespace=namespace,
                    rules=RULES,
                    created=registered_webhooks,
                )
            )

        yield start


def record_commit(store: AuditStore, manifests: list[dict[str, Any]], commit: str = COMMIT) -> None:
    """What the reconciler does before applying: note the verified commit and its objects."""
    ledger = Ledger(store)
    ledger.record_commit(SOURCE, commit, signer="alice", key_id="F00D", format="openpgp")
    ledger.record_desired(
        SOURCE, commit, [DesiredObject(ObjectKey.of(m), PATH, m) for m in manifests]
    )


def apply(api: client.ApiClient, manifest: dict[str, Any]) -> Any:
    """Server-side apply as the reconciler does it."""
    return client.AppsV1Api(api).patch_namespaced_deployment(
        manifest["metadata"]["name"],
        manifest["metadata"]["namespace"],
        manifest,
        field_manager=contract.FIELD_MANAGER,
        force=True,
        _content_type=APPLY_PATCH,
    )


def collapsed(items: list[Any]) -> list[Any]:
    """Items without immediate repeats.

    kube-apiserver decides an update on its cached copy first; when admission refuses it,
    it retries once on a fresh read, so a refused update can reach the webhook twice (two
    requests, two uids, two records).
    """
    return [item for index, item in enumerate(items) if index == 0 or items[index - 1] != item]


def refused(call: Callable[[], Any]) -> str:
    """The message of the 403 the call must end in."""
    with pytest.raises(ApiException) as error:
        call()
    assert error.value.status == 403, error.value.body
    message: str = json.loads(error.value.body)["message"]
    return message


def test_the_reconciler_applying_a_verified_commit_is_admitted_and_recorded(
    start_webhook: Callable[..., RunningWebhook],
    namespace: str,
    reconciler_api: client.ApiClient,
) -> None:
    webhook = start_webhook(namespace)
    manifest = deployment(namespace)
    record_commit(webhook.store, [manifest])

    applied = apply(reconciler_api, contract.annotate(manifest, source=SOURCE, commit=COMMIT))

    assert applied.metadata.annotations[contract.COMMIT_ANNOTATION] == COMMIT
    (decision,) = webhook.decisions()
    assert decision.kind == "admission.allowed"
    assert decision.actor == RECONCILER.username
    assert decision.commit == COMMIT
    assert decision.payload["operation"] == "CREATE"
    assert decision.payload["path"] == PATH
    assert decision.payload["policy_set_version"].startswith("sha256:")


def test_quantities_the_api_server_rewrites_do_not_refuse_the_reconciler(
    start_webhook: Callable[..., RunningWebhook],
    namespace: str,
    reconciler_api: client.ApiClient,
) -> None:
    webhook = start_webhook(namespace)
    manifest = deployment(namespace)
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    # As people write them; kube-apiserver stores "1", "1Gi", "500m" and "256Mi". (Numbers,
    # such as cpu: 1, are refused by server-side apply on kube-apiserver 1.20.)
    container["resources"] = {
        "limits": {"cpu": "1000m", "memory": "1024Mi"},
        "requests": {"cpu": "0.5", "memory": "262144Ki"},
    }
    record_commit(webhook.store, [manifest])

    applied = apply(reconciler_api, contract.annotate(manifest, source=SOURCE, commit=COMMIT))

    stored = applied.spec.template.spec.containers[0].resources
    assert (stored.limits, stored.requests) == (
        {"cpu": "1", "memory": "1Gi"},
        {"cpu": "500m", "memory": "256Mi"},
    )
    (decision,) = webhook.decisions()
    assert decision.kind == "admission.allowed", decision.payload["reasons"]


def test_alice_updating_a_managed_deployment_is_refused_with_where_to_change_it(
    start_webhook: Callable[..., RunningWebhook],
    namespace: str,
    reconciler_api: client.ApiClient,
    alice_api: client.ApiClient,
) -> None:
    webhook = start_webhook(namespace)
    manifest = deployment(namespace)
    record_commit(webhook.store, [manifest])
    apply(reconciler_api, contract.annotate(manifest, source=SOURCE, commit=COMMIT))
    apps = client.AppsV1Api(alice_api)

    message = refused(
        lambda: apps.patch_namespaced_deployment("web", namespace, {"spec": {"replicas": 5}})
    )

    assert f"UPDATE of apps/Deployment/{namespace}/web refused" in message
    assert "managed from Git and alice is not the reconciler" in message
    assert f"source {SOURCE}, path {PATH}" in message
    deleted = refused(lambda: apps.delete_namespaced_deployment("web", namespace))
    assert f"DELETE of apps/Deployment/{namespace}/web refused" in deleted
    assert (
        client.AppsV1Api(reconciler_api).read_namespaced_deployment("web", namespace).spec.replicas
        == 1
    )
    kinds = collapsed([(r.kind, r.actor, r.payload["operation"]) for r in webhook.decisions()])
    assert kinds == [
        ("admission.allowed", "reconciler", "CREATE"),
        ("admission.denied", "alice", "UPDATE"),
        ("admission.denied", "alice", "DELETE"),
    ]


def test_alice_forging_provenance_annotations_is_refused(
    start_webhook: Callable[..., RunningWebhook],
    namespace: str,
    alice_api: client.ApiClient,
) -> None:
    webhook = start_webhook(namespace, guardedKinds=[])
    manifest = deployment(namespace, name="forged")
    record_commit(webhook.store, [manifest])
    forged = contract.annotate(manifest, source=SOURCE, commit=COMMIT)

    message = refused(
        lambda: client.AppsV1Api(alice_api).create_namespaced_deployment(namespace, forged)
    )

    assert "only the reconciler (reconciler) may set or change the provenance metadata" in message
    assert contract.DIGEST_ANNOTATION in message
    (decision,) = webhook.decisions()
    assert decision.kind == "admission.denied" and decision.actor == "alice"


def test_the_reconciler_with_a_digest_that_does_not_match_is_refused(
    start_webhook: Callable[..., RunningWebhook],
    namespace: str,
    reconciler_api: client.ApiClient,
) -> None:
    webhook = start_webhook(namespace)
    manifest = deployment(namespace)
    record_commit(webhook.store, [manifest])
    tampered = contract.annotate(manifest, source=SOURCE, commit=COMMIT)
    tampered["spec"]["replicas"] = 7
    tampered["metadata"]["annotations"][contract.DIGEST_ANNOTATION] = "sha256:" + "0" * 64

    message = refused(lambda: apply(reconciler_api, tampered))

    assert "is not the digest" in message and PATH in message
    (decision,) = webhook.decisions()
    assert decision.kind == "admission.denied" and decision.actor == "reconciler"


def test_break_glass_is_admitted_and_recorded_with_user_reason_and_object(
    start_webhook: Callable[..., RunningWebhook],
    namespace: str,
    reconciler_api: client.ApiClient,
    breakglass_api: client.ApiClient,
) -> None:
    webhook = start_webhook(namespace)
    manifest = deployment(namespace)
    record_commit(webhook.store, [manifest])
    apply(reconciler_api, contract.annotate(manifest, source=SOURCE, commit=COMMIT))
    patch = {
        "metadata": {"annotations": {contract.BREAK_GLASS_ANNOTATION: "INC-7 hotfix"}},
        "spec": {"replicas": 3},
    }

    patched = client.AppsV1Api(breakglass_api).patch_namespaced_deployment("web", namespace, patch)

    assert patched.spec.replicas == 3
    decision = webhook.decisions()[-1]
    assert decision.kind == "breakglass"
    assert decision.actor == "breakglass"
    assert decision.subject == f"apps/Deployment/{namespace}/web"
    assert decision.payload["break_glass_reason"] == "INC-7 hotfix"
    assert decision.payload["groups"] == [BREAK_GLASS_GROUP, "system:authenticated"]


def test_a_container_added_by_break_glass_does_not_lock_the_reconciler_out(
    start_webhook: Callable[..., RunningWebhook],
    namespace: str,
    reconciler_api: client.ApiClient,
    breakglass_api: client.ApiClient,
) -> None:
    # The API server merges the reconciler's apply with the sidecar by container name, so the
    # incoming object has one container more than the manifest. Drift matches containers by
    # name and sees none; the webhook must agree and admit the next commit.
    webhook = start_webhook(namespace)
    manifest = deployment(namespace)
    record_commit(webhook.store, [manifest])
    apply(reconciler_api, contract.annotate(manifest, source=SOURCE, commit=COMMIT))
    sidecar = {
        **manifest["spec"]["template"]["spec"]["containers"][0],
        "name": "sidecar",
        "image": "registry.example.com/proxy:2.0.1",
    }
    patch = {
        "metadata": {"annotations": {contract.BREAK_GLASS_ANNOTATION: "INC-9 debug proxy"}},
        "spec": {"template": {"spec": {"containers": [sidecar]}}},
    }
    client.AppsV1Api(breakglass_api).patch_namespaced_deployment("web", namespace, patch)
    second = "4e" * 20
    updated = deployment(namespace, image="registry.example.com/web:1.4.3")
    record_commit(webhook.store, [updated], commit=second)

    applied = apply(reconciler_api, contract.annotate(updated, source=SOURCE, commit=second))

    names = [container.name for container in applied.spec.template.spec.containers]
    assert sorted(names) == ["sidecar", "web"]
    decision = webhook.decisions()[-1]
    assert (decision.kind, decision.commit) == ("admission.allowed", second), decision.payload
    live = reconciler_api.sanitize_for_serialization(applied)
    expected = contract.annotate(updated, source=SOURCE, commit=second)
    assert compare.matches(expected, live)


def test_a_policy_violation_is_refused_even_from_a_verified_commit(
    start_webhook: Callable[..., RunningWebhook],
    namespace: str,
    reconciler_api: client.ApiClient,
) -> None:
    webhook = start_webhook(namespace)
    manifest = deployment(namespace, image="registry.example.com/web:latest")
    record_commit(webhook.store, [manifest])

    message = refused(
        lambda: apply(reconciler_api, contract.annotate(manifest, source=SOURCE, commit=COMMIT))
    )

    assert "policy: [library.no_latest_tag]" in message
    (decision,) = webhook.decisions()
    assert decision.kind == "admission.denied"
    assert any(p["policy"] == "library.no_latest_tag" for p in decision.payload["policies"])


def test_an_unguarded_namespace_is_left_alone(
    start_webhook: Callable[..., RunningWebhook],
    namespace: str,
    alice_api: client.ApiClient,
) -> None:
    webhook = start_webhook(namespace, guardedNamespaces=["prod-*"])
    apps = client.AppsV1Api(alice_api)
    manifest = deployment(namespace, name="scratch", image="nginx:latest")

    apps.create_namespaced_deployment(namespace, manifest)
    apps.patch_namespaced_deployment("scratch", namespace, {"spec": {"replicas": 2}})
    apps.delete_namespaced_deployment("scratch", namespace)

    decisions = webhook.decisions()
    assert [r.payload["operation"] for r in decisions] == ["CREATE", "UPDATE", "DELETE"]
    assert all(r.kind == "admission.allowed" for r in decisions)
    assert all(r.payload["reasons"] == [f"namespace {namespace} is not guarded"] for r in decisions)


def test_every_decision_is_in_the_audit_store_and_the_chain_verifies(
    start_webhook: Callable[..., RunningWebhook],
    namespace: str,
    reconciler_api: client.ApiClient,
    alice_api: client.ApiClient,
) -> None:
    webhook = start_webhook(namespace)
    manifest = deployment(namespace)
    record_commit(webhook.store, [manifest])
    apply(reconciler_api, contract.annotate(manifest, source=SOURCE, commit=COMMIT))
    core = client.CoreV1Api(alice_api)
    config_map = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="notes"), data={"a": "1"})
    core.create_namespaced_config_map(namespace, config_map, dry_run="All")
    core.create_namespaced_config_map(namespace, config_map)
    refused(lambda: client.AppsV1Api(alice_api).delete_namespaced_deployment("web", namespace))

    decisions = webhook.decisions()
    outcomes = [(r.kind, r.payload["operation"], r.payload["dry_run"]) for r in decisions]
    assert collapsed(outcomes) == [
        ("admission.allowed", "CREATE", False),
        ("admission.allowed", "CREATE", True),
        ("admission.allowed", "CREATE", False),
        ("admission.denied", "DELETE", False),
    ]
    for record in decisions:
        assert record.payload["uid"] and record.payload["user"] == record.actor
        assert record.payload["groups"]
        assert record.payload["decision"] in {"allowed", "denied"}
        assert record.payload["policy_set_version"].startswith("sha256:")
    report = verify_store(webhook.store, None)
    assert report.ok and report.records == len(webhook.records())
