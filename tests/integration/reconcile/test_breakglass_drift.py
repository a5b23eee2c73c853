"""The webhook and the reconciler on one audit store: a break-glass change is drift, named
after the person who made it and the reason they gave."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client

from gatekeeper.audit import events
from gatekeeper.devcluster.identities import BREAK_GLASS_GROUP
from gatekeeper.kube import contract
from gatekeeper.settings import Settings
from tests.integration.admission.test_webhook_cluster import RunningWebhook, serving
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


@pytest.fixture
def webhook(
    harness: Harness, tmp_path: Path, admin_api: client.ApiClient, registered_webhooks: list[str]
) -> Iterator[RunningWebhook]:
    settings = Settings(
        database={"url": str(harness.store.engine.url)},
        policies={"paths": list(harness.engine.policy_set.sources)},
        admission={"reconcilerIdentity": "reconciler", "breakGlassGroups": [BREAK_GLASS_GROUP]},
    )
    with serving(
        settings,
        harness.store,
        tmp_path,
        admin_api,
        namespace=harness.namespace,
        rules=RULES,
        created=registered_webhooks,
    ) as running:
        yield running


def test_a_break_glass_change_is_drift_named_after_the_person_and_the_reason(
    harness: Harness, webhook: RunningWebhook, breakglass_api: client.ApiClient
) -> None:
    harness.commit({"apps/web.yaml": deployment("web", "nginx:1.25")})
    reconciler = harness.reconciler(harness.source(drift="report"))
    assert reconciler.reconcile(harness.name).outcome == "applied"
    patch = {
        "metadata": {"annotations": {contract.BREAK_GLASS_ANNOTATION: "INC-9 rollback"}},
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


def test_a_corrected_break_glass_change_links_the_exception_its_drift_and_the_correction(
    harness: Harness, webhook: RunningWebhook, breakglass_api: client.ApiClient
) -> None:
    harness.commit({"apps/web.yaml": deployment("web", "nginx:1.25")})
    reconciler = harness.reconciler()
    assert reconciler.reconcile(harness.name).outcome == "applied"
    patch = {
        "metadata": {"annotations": {contract.BREAK_GLASS_ANNOTATION: "INC-11 scale up"}},
        "spec": {"replicas": 3},
    }
    client.AppsV1Api(breakglass_api).patch_namespaced_deployment("web", harness.namespace, patch)

    assert reconciler.reconcile(harness.name).drifted == 1

    (breakglass,) = harness.records(events.BREAKGLASS)
    (detected,) = harness.records(events.DRIFT_DETECTED)
    (corrected,) = harness.records(events.DRIFT_CORRECTED)
    assert breakglass.seq < detected.seq < corrected.seq
    assert detected.payload["break_glass_seq"] == breakglass.seq
    assert corrected.payload["detected_seq"] == detected.seq
    assert corrected.payload["mode"] == "correct"
    assert {"path": "spec.replicas", "desired": 1, "live": 3} in corrected.payload["changes"]
    live = harness.apps().read_namespaced_deployment("web", harness.namespace)
    assert live.spec.replicas == 1
