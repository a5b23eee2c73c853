"""End to end: a deletion the API server refuses is tried again until the object is gone."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from gatekeeper.audit import events
from tests.fixtures.webhook import RegisteredWebhook, Review, WebhookServer, allow_all
from tests.integration.reconcile.conftest import Harness, config_map, deployment

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

# Only deletions of ConfigMaps go to the test's webhook: applies are never held up by it.
CONFIGMAP_DELETES = [
    {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["DELETE"],
        "resources": ["configmaps"],
        "scope": "Namespaced",
    }
]
REFUSAL = "settings is held by a retention rule"


def _refuse_deleting_settings(review: Review) -> tuple[bool, str]:
    request = review["request"]
    if request["operation"] == "DELETE" and request["name"] == "settings":
        return False, REFUSAL
    return True, ""


def _prune_refused(
    harness: Harness,
    webhook: Callable[[list[dict[str, Any]]], RegisteredWebhook],
    webhook_server: WebhookServer,
) -> str:
    """The source drops its only ConfigMap, `settings`, and the API server refuses to delete
    it (an admission webhook's denial); the commit that dropped it."""
    harness.commit(
        {
            "apps/settings.yaml": config_map("settings", {"k": "v"}),
            "apps/web.yaml": deployment("web", "nginx:1.25"),
        }
    )
    assert harness.reconciler().reconcile(harness.name).outcome == "applied"
    webhook_server.decide = _refuse_deleting_settings
    webhook(CONFIGMAP_DELETES)
    removed = harness.commit({"apps/settings.yaml": None})

    refused = harness.reconciler().reconcile(harness.name)

    assert (refused.outcome, refused.commit, refused.pruned) == ("applied", removed, 0)
    (failed,) = harness.records(events.SYNC_FAILED)
    assert failed.payload["stage"] == "prune"
    assert failed.payload["not_applied"] == [f"ConfigMap/{harness.namespace}/settings"]
    assert REFUSAL in failed.payload["error"]
    assert harness.core().read_namespaced_config_map("settings", harness.namespace)
    return removed


def test_an_object_whose_deletion_was_refused_is_pruned_once_the_refusal_ends(
    harness: Harness,
    webhook: Callable[[list[dict[str, Any]]], RegisteredWebhook],
    webhook_server: WebhookServer,
) -> None:
    removed = _prune_refused(harness, webhook, webhook_server)

    webhook_server.decide = allow_all
    again = harness.reconciler().reconcile(harness.name)

    assert (again.outcome, again.pruned) == ("unchanged", 1)
    with pytest.raises(ApiException) as gone:
        harness.core().read_namespaced_config_map("settings", harness.namespace)
    assert gone.value.status == 404
    (pruned,) = harness.records(events.PRUNED)
    assert (pruned.subject, pruned.commit) == (f"ConfigMap/{harness.namespace}/settings", removed)


def test_a_refused_deletion_is_tried_again_by_the_syncs_of_later_commits(
    harness: Harness,
    webhook: Callable[[list[dict[str, Any]]], RegisteredWebhook],
    webhook_server: WebhookServer,
) -> None:
    _prune_refused(harness, webhook, webhook_server)
    harness.commit({"apps/web.yaml": deployment("web", "nginx:1.26")})

    result = harness.reconciler().reconcile(harness.name)

    assert (result.outcome, result.pruned) == ("applied", 0)
    failed = harness.records(events.SYNC_FAILED)
    assert [record.commit for record in failed] == [
        record.commit for record in harness.records(events.SYNC_APPLIED)[1:]
    ]
    assert harness.records(events.SYNC_APPLIED)[-1].payload["stale_kinds"] == ["v1|ConfigMap"]

    webhook_server.decide = allow_all
    harness.commit({"apps/web.yaml": deployment("web", "nginx:1.27")})
    last = harness.reconciler().reconcile(harness.name)

    assert (last.outcome, last.pruned) == ("applied", 1)
    assert harness.records(events.SYNC_APPLIED)[-1].payload["stale_kinds"] == []
