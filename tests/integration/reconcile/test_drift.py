"""End to end: out-of-band changes are noticed, attributed from managedFields, and corrected."""

from __future__ import annotations

import base64
import json

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gatekeeper.audit import events
from gatekeeper.kube import contract
from tests.integration.reconcile.conftest import Harness, config_map, deployment

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def _edit_as_alice(harness: Harness, name: str, data: dict[str, str]) -> None:
    """A human edit, as `kubectl edit` would make it (no webhook is registered here)."""
    client.CoreV1Api(harness.alice).patch_namespaced_config_map(
        name, harness.namespace, {"data": data}, field_manager="kubectl-edit"
    )


def test_an_out_of_band_edit_is_detected_attributed_to_its_manager_and_corrected(
    harness: Harness,
) -> None:
    sha = harness.commit({"apps/a.yaml": config_map("a", {"color": "blue", "size": "m"})})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)
    _edit_as_alice(harness, "a", {"color": "red"})

    result = reconciler.reconcile(harness.name)

    assert result.outcome == "unchanged"
    assert result.drifted == 1
    live = harness.core().read_namespaced_config_map("a", harness.namespace)
    assert live.data == {"color": "blue", "size": "m"}
    (detected,) = harness.records(events.DRIFT_DETECTED)
    assert detected.subject == f"ConfigMap/{harness.namespace}/a"
    assert detected.commit == sha
    assert detected.actor == "kubectl-edit"
    assert detected.payload["diff"] == [{"path": "data.color", "desired": "blue", "live": "red"}]
    (who,) = detected.payload["changed_by"]
    assert who["manager"] == "kubectl-edit"
    assert who["operation"] == "Update"
    assert who["owns_drifted_fields"] is True
    (corrected,) = harness.records(events.DRIFT_CORRECTED)
    assert corrected.subject == detected.subject
    assert corrected.seq > detected.seq


def test_report_mode_records_drift_and_leaves_the_live_object_alone(harness: Harness) -> None:
    harness.commit({"apps/a.yaml": config_map("a", {"color": "blue"})})
    reconciler = harness.reconciler(harness.source(drift="report"))
    reconciler.reconcile(harness.name)
    _edit_as_alice(harness, "a", {"color": "red"})

    result = reconciler.reconcile(harness.name)

    assert result.drifted == 1
    live = harness.core().read_namespaced_config_map("a", harness.namespace)
    assert live.data == {"color": "red"}
    (detected,) = harness.records(events.DRIFT_DETECTED)
    assert detected.payload["mode"] == "report"
    assert harness.records(events.DRIFT_CORRECTED) == []


def test_a_deleted_object_is_noticed_as_drift_and_recreated(harness: Harness) -> None:
    harness.commit({"apps/a.yaml": config_map("a", {"color": "blue"})})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)
    harness.core().delete_namespaced_config_map("a", harness.namespace)

    result = reconciler.reconcile(harness.name)

    assert result.drifted == 1
    live = harness.core().read_namespaced_config_map("a", harness.namespace)
    assert live.data == {"color": "blue"}
    (detected,) = harness.records(events.DRIFT_DETECTED)
    assert detected.payload["missing"] is True
    assert detected.actor == "unknown"
    (corrected,) = harness.records(events.DRIFT_CORRECTED)
    assert corrected.payload["missing"] is True


def test_fields_git_does_not_set_are_not_drift(harness: Harness) -> None:
    harness.commit({"apps/web.yaml": deployment("web", "nginx:1.25", replicas=2)})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)
    # Another manager adds an annotation and a label Git never mentions.
    client.AppsV1Api(harness.alice).patch_namespaced_deployment(
        "web",
        harness.namespace,
        {"metadata": {"annotations": {"team": "payments"}, "labels": {"tier": "web"}}},
        field_manager="someone",
    )

    result = reconciler.reconcile(harness.name)

    assert result.drifted == 0
    assert harness.records(events.DRIFT_DETECTED) == []


def test_quantities_the_api_server_rewrites_are_not_drift(harness: Harness) -> None:
    manifest = yaml.safe_load(deployment("web", "nginx:1.25"))
    container = manifest["spec"]["template"]["spec"]["containers"][0]
    # Stored as "1", "1Gi" and "500m".
    container["resources"] = {
        "limits": {"cpu": "1000m", "memory": "1024Mi"},
        "requests": {"cpu": "0.5"},
    }
    harness.commit({"apps/web.yaml": yaml.safe_dump(manifest)})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)
    live = client.AppsV1Api(harness.admin).read_namespaced_deployment("web", harness.namespace)
    assert live.spec.template.spec.containers[0].resources.limits == {"cpu": "1", "memory": "1Gi"}

    results = [reconciler.reconcile(harness.name) for _ in range(2)]

    assert [(r.outcome, r.drifted, r.applied) for r in results] == [("unchanged", 0, 0)] * 2
    assert harness.records(events.DRIFT_DETECTED) == []


def test_a_changed_container_image_is_drift_owned_by_the_manager_that_changed_it(
    harness: Harness,
) -> None:
    harness.commit({"apps/web.yaml": deployment("web", "nginx:1.25")})
    reconciler = harness.reconciler(harness.source(drift="report"))
    reconciler.reconcile(harness.name)
    client.AppsV1Api(harness.alice).patch_namespaced_deployment(
        "web",
        harness.namespace,
        {"spec": {"template": {"spec": {"containers": [{"name": "app", "image": "nginx:9"}]}}}},
        field_manager="kubectl-set",
    )

    reconciler.reconcile(harness.name)

    (detected,) = harness.records(events.DRIFT_DETECTED)
    assert detected.payload["diff"] == [
        {
            "path": "spec.template.spec.containers[name=app].image",
            "desired": "nginx:1.25",
            "live": "nginx:9",
        }
    ]
    assert detected.actor == "kubectl-set"


def test_removing_the_managed_label_is_drift_and_the_label_comes_back(harness: Harness) -> None:
    harness.commit({"apps/a.yaml": config_map("a", {"color": "blue"})})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)
    client.CoreV1Api(harness.alice).patch_namespaced_config_map(
        "a",
        harness.namespace,
        [{"op": "remove", "path": "/metadata/labels/gatekeeper.dev~1managed"}],
        field_manager="kubectl-label",
    )

    result = reconciler.reconcile(harness.name)

    assert result.drifted == 1
    live = harness.core().read_namespaced_config_map("a", harness.namespace)
    assert live.metadata.labels[contract.MANAGED_LABEL] == "true"


def test_a_source_without_drift_leaves_no_records_across_passes(harness: Harness) -> None:
    harness.commit({"apps/a.yaml": config_map("a", {"color": "blue"})})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)

    for _ in range(3):
        assert reconciler.reconcile(harness.name).drifted == 0

    assert harness.records(events.DRIFT_DETECTED) == []
    with pytest.raises(ApiException):
        harness.core().read_namespaced_config_map("b", harness.namespace)


def test_a_drifted_secret_is_recorded_by_digest_never_by_value(harness: Harness) -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db"},
        "stringData": {"password": "from-git-s3cret"},
    }
    harness.commit({"apps/db.yaml": yaml.safe_dump(secret)})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)

    assert reconciler.reconcile(harness.name).drifted == 0  # stringData is stored as data
    client.CoreV1Api(harness.alice).patch_namespaced_secret(
        "db", harness.namespace, {"stringData": {"password": "hand-s3cret"}}
    )

    result = reconciler.reconcile(harness.name)

    assert result.drifted == 1
    (detected,) = harness.records(events.DRIFT_DETECTED)
    (change,) = detected.payload["diff"]
    assert change["path"] == "data.password"
    # Keyed with the installation's key, so a guessed password cannot be checked offline.
    digest = harness.store.secret_digester.digest
    assert change["desired"] == digest(base64.b64encode(b"from-git-s3cret").decode())
    assert change["live"] == digest(base64.b64encode(b"hand-s3cret").decode())
    stored = json.dumps([record.payload for record in harness.store.query(limit=100).records])
    assert "s3cret" not in stored
