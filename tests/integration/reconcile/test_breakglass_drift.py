"""The webhook and the reconciler on one audit store: a break-glass change is drift, named
after the person who made it and the reason they gave."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from kubernetes import client

from gatekeeper import provenance_meta
from gatekeeper.admission import server as admission_server
from gatekeeper.admission.app import create_app
from gatekeeper.audit import events
from gatekeeper.audit.events import Record
from gatekeeper.audit.store import AuditStore
from gatekeeper.devcluster.identities import BREAK_GLASS_GROUP
from gatekeeper.settings import Settings
from tests.fixtures.webhook import WebhookTLS, make_webhook_tls, register_webhook
from tests.integration.reconcile.conftest import Harness, deployment

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]

RULES = [
    {
        "apiGroups": ["apps"],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE", "DELETE"],
        "resources": ["deployments"],
        "scope": "Namespaced",
    }
]


@dataclass
class _Webhook:
    """The real app on 127.0.0.1, in the shape `register_webhook` expects."""

    tls: WebhookTLS
    store: AuditStore
    thread: admission_server.ServerThread

    def url(self, path: str = "/validate") -> str:
        return f"https://127.0.0.1:{self.thread.port}{path}"

    @property
    def probes(self) -> list[Record]:
        return [r for r in self.store.query(limit=10_000).records if r.subject.endswith("-probe")]


@pytest.fixture
def webhook(
    harness: Harness, tmp_path: Path, admin_api: client.ApiClient, registered_webhooks: list[str]
) -> Iterator[_Webhook]:
    settings = Settings(
        database={"url": str(harness.store.engine.url)},
        policies={"paths": list(harness.engine.policy_set.sources)},
        admission={"reconcilerIdentity": "reconciler", "breakGlassGroups": [BREAK_GLASS_GROUP]},
    )
    tls = make_webhook_tls(tmp_path / "tls")
    listen = admission_server.Listen(
        host="127.0.0.1", port=0, cert_file=tls.cert_file, key_file=tls.key_file
    )
    thread = admission_server.ServerThread(
        admission_server.build_server(create_app(settings, store=harness.store), listen),
        admission_server.bind("127.0.0.1"),
    )
    thread.start()
    running = _Webhook(tls=tls, store=harness.store, thread=thread)
    try:
        register_webhook(
            admin_api,
            running,  # type: ignore[arg-type]
            namespace=harness.namespace,
            rules=RULES,
            created=registered_webhooks,
        )
        yield running
    finally:
        thread.stop()


def test_a_break_glass_change_is_drift_named_after_the_person_and_the_reason(
    harness: Harness, webhook: _Webhook, breakglass_api: client.ApiClient
) -> None:
    harness.commit({"apps/web.yaml": deployment("web", "nginx:1.25")})
    reconciler = harness.reconciler(harness.source(drift="report"))
    assert reconciler.reconcile(harness.name).outcome == "applied"
    patch = {
        "metadata": {"annotations": {provenance_meta.BREAK_GLASS_ANNOTATION: "INC-9 rollback"}},
        "spec": {"replicas": 3},
    }
    client.AppsV1Api(breakglass_api).patch_namespaced_deployment("web", harness.namespace, patch)

    passes = [reconciler.reconcile(harness.name) for _ in range(2)]

    assert [p.drifted for p in passes] == [1, 1]
    detected = harness.records(events.DRIFT_DETECTED)
    # Report mode leaves the change in place; every pass names the same person.
    assert [record.actor for record in detected] == ["breakglass", "breakglass"]
    (change,) = detected[0].payload["admitted_changes"]
    assert change["decision"] == events.BREAKGLASS
    assert change["reason"] == "INC-9 rollback"
    assert change["operation"] == "UPDATE"
    assert BREAK_GLASS_GROUP in change["groups"]
    assert {"path": "spec.replicas", "desired": 1, "live": 3} in detected[0].payload["diff"]
    # The reconciler's own admitted apply is not counted as a change by someone else.
    applied = [r for r in harness.records(events.ADMISSION_ALLOWED) if r.actor == "reconciler"]
    assert applied and all(r.seq < change["seq"] for r in applied)
