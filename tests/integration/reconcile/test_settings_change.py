"""A source's settings that change how its synced commit renders (its namespace, Helm values,
createNamespace) do not reach the cluster through the back door of drift correction: the
ledger holds the rendering the commit's gates passed, and the new one waits for a commit."""

from __future__ import annotations

import pytest

from gatekeeper.audit import events
from gatekeeper.audit.verify import verify_store
from gatekeeper.kube import contract
from gatekeeper.reconcile.results import RENDERING_CHANGED
from tests.integration.reconcile.conftest import Harness, config_map

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def test_a_changed_namespace_setting_waits_for_the_next_commit(harness: Harness) -> None:
    first = harness.commit({"apps/cm.yaml": config_map("settings", {"k": "v"})})
    assert harness.reconciler().reconcile(harness.name).outcome == "applied"
    moved = f"{harness.namespace}-moved"
    source = harness.source(namespace=moved, createNamespace=True)
    reconciler = harness.reconciler(source)
    try:
        result = reconciler.reconcile(source.name)

        assert result.outcome == "failed"
        assert f"commit {first[:12]} renders differently" in result.message
        assert f"ConfigMap/{moved}/settings new" in result.message
        assert f"ConfigMap/{harness.namespace}/settings no longer rendered" in result.message
        (failed,) = harness.records(events.SYNC_FAILED)
        assert failed.payload["stage"] == "render"
        assert failed.payload["reason"] == RENDERING_CHANGED
        # Nothing of the new rendering was applied, and nothing of the old one pruned.
        assert moved not in [n.metadata.name for n in harness.core().list_namespace().items]
        live = harness.core().read_namespaced_config_map("settings", harness.namespace)
        assert live.metadata.annotations[contract.COMMIT_ANNOTATION] == first
        assert harness.records(events.PRUNED) == []
        assert harness.records(events.DRIFT_DETECTED) == []

        # Recorded once while nothing changes.
        assert reconciler.reconcile(source.name).outcome == "failed"
        assert len(harness.records(events.SYNC_FAILED)) == 1

        # The next commit is judged, recorded and applied under the new settings.
        second = harness.commit({"apps/cm.yaml": config_map("settings", {"k": "w"})})
        assert reconciler.reconcile(source.name).outcome == "applied"
        moved_live = harness.core().read_namespaced_config_map("settings", moved)
        assert moved_live.metadata.annotations[contract.COMMIT_ANNOTATION] == second
        assert verify_store(harness.store, None).ok
    finally:
        if moved in [n.metadata.name for n in harness.core().list_namespace().items]:
            harness.core().delete_namespace(moved)


def test_settings_that_render_the_same_objects_change_nothing(harness: Harness) -> None:
    """Settings that do not touch the rendering (the interval, drift, health timeout) leave
    the synced commit watched as before."""
    harness.commit({"apps/cm.yaml": config_map("settings", {"k": "v"})})
    assert harness.reconciler().reconcile(harness.name).outcome == "applied"
    source = harness.source(interval=5, healthTimeout=30, drift="report")

    assert harness.reconciler(source).reconcile(source.name).outcome == "unchanged"
    assert harness.records(events.SYNC_FAILED) == []
