"""End to end: unhealthy syncs roll back by themselves; rollbacks on command; holds."""

from __future__ import annotations

import time
from typing import Any

import pytest
import yaml

from gatekeeper.audit import events
from gatekeeper.kube import contract
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.reconcile.errors import RollbackRefused
from gatekeeper.reconcile.state import SYNC_HEALTHY, SYNC_UNHEALTHY
from tests.integration.reconcile.conftest import Harness, config_map, deployment

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def _write_status(harness: Harness, name: str, status: dict[str, Any]) -> None:
    """What the deployment controller would write; there is no controller here."""
    harness.apps().patch_namespaced_deployment_status(name, harness.namespace, {"status": status})


def _healthy(harness: Harness, name: str) -> None:
    live = harness.apps().read_namespaced_deployment(name, harness.namespace)
    replicas = live.spec.replicas
    _write_status(
        harness,
        name,
        {
            "observedGeneration": live.metadata.generation,
            "replicas": replicas,
            "updatedReplicas": replicas,
            "readyReplicas": replicas,
            "availableReplicas": replicas,
        },
    )


def _deadline_exceeded(harness: Harness, name: str) -> None:
    live = harness.apps().read_namespaced_deployment(name, harness.namespace)
    _write_status(
        harness,
        name,
        {
            "observedGeneration": live.metadata.generation,
            "replicas": 1,
            "updatedReplicas": 1,
            "availableReplicas": 0,
            "conditions": [
                {
                    "type": "Progressing",
                    "status": "False",
                    "reason": "ProgressDeadlineExceeded",
                    "message": 'ReplicaSet "web-2" has timed out progressing.',
                }
            ],
        },
    )


def _image(harness: Harness, name: str) -> str:
    live = harness.apps().read_namespaced_deployment(name, harness.namespace)
    image: str = live.spec.template.spec.containers[0].image
    return image


def _commit_of(harness: Harness, name: str) -> str:
    live = harness.apps().read_namespaced_deployment(name, harness.namespace)
    commit: str = live.metadata.annotations[contract.COMMIT_ANNOTATION]
    return commit


def test_a_workload_is_judged_healthy_only_once_its_status_says_so(harness: Harness) -> None:
    good = harness.commit({"apps/web.yaml": deployment("web", "nginx:1.25")})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)
    assert harness.records(SYNC_HEALTHY) == []

    _healthy(harness, "web")
    reconciler.reconcile(harness.name)

    (healthy,) = harness.records(SYNC_HEALTHY)
    assert healthy.commit == good


def test_a_failed_rollout_rolls_back_to_the_last_healthy_commit_and_holds_there(
    harness: Harness,
) -> None:
    good = harness.commit({"apps/web.yaml": deployment("web", "nginx:1.25")})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)
    _healthy(harness, "web")
    reconciler.reconcile(harness.name)
    bad = harness.commit({"apps/web.yaml": deployment("web", "nginx:1.26-broken")})
    assert reconciler.reconcile(harness.name).outcome == "applied"
    assert _image(harness, "web") == "nginx:1.26-broken"

    _deadline_exceeded(harness, "web")
    result = reconciler.reconcile(harness.name)

    assert result.outcome == "rolled_back"
    assert result.commit == good
    assert _image(harness, "web") == "nginx:1.25"
    assert _commit_of(harness, "web") == good
    (rollback,) = harness.records(events.ROLLBACK)
    assert rollback.commit == good
    assert rollback.payload["from"] == bad
    assert rollback.payload["automatic"] is True
    assert "ProgressDeadlineExceeded" in rollback.payload["reason"] or (
        "timed out progressing" in rollback.payload["reason"]
    )

    # Held: the bad commit is still Git's head, and stays out.
    held = reconciler.reconcile(harness.name)
    assert held.commit == good
    assert _image(harness, "web") == "nginx:1.25"

    # A newer commit releases the hold.
    fixed = harness.commit({"apps/web.yaml": deployment("web", "nginx:1.27")})
    released = reconciler.reconcile(harness.name)
    assert released.outcome == "applied"
    assert released.commit == fixed
    assert _image(harness, "web") == "nginx:1.27"


def test_a_rollout_still_in_progress_after_the_timeout_rolls_back(harness: Harness) -> None:
    good = harness.commit({"apps/web.yaml": deployment("web", "nginx:1.25")})
    reconciler = harness.reconciler(harness.source(healthTimeout="1s"))
    reconciler.reconcile(harness.name)
    _healthy(harness, "web")
    reconciler.reconcile(harness.name)
    harness.commit({"apps/web.yaml": deployment("web", "nginx:1.26")})
    reconciler.reconcile(harness.name)

    assert reconciler.reconcile(harness.name).outcome == "unchanged"  # still within the timeout
    time.sleep(1.2)
    result = reconciler.reconcile(harness.name)

    assert result.outcome == "rolled_back"
    assert _commit_of(harness, "web") == good
    (rollback,) = harness.records(events.ROLLBACK)
    assert "generation 2 not yet observed" in rollback.payload["reason"]


def test_without_auto_rollback_an_unhealthy_sync_is_only_recorded(harness: Harness) -> None:
    harness.commit({"apps/web.yaml": deployment("web", "nginx:1.25")})
    reconciler = harness.reconciler(harness.source(autoRollback=False))
    reconciler.reconcile(harness.name)
    _healthy(harness, "web")
    reconciler.reconcile(harness.name)
    bad = harness.commit({"apps/web.yaml": deployment("web", "nginx:1.26")})
    reconciler.reconcile(harness.name)
    _deadline_exceeded(harness, "web")

    result = reconciler.reconcile(harness.name)

    assert result.outcome == "failed"
    assert _commit_of(harness, "web") == bad
    assert harness.records(events.ROLLBACK) == []
    (unhealthy,) = harness.records(SYNC_UNHEALTHY)
    assert unhealthy.commit == bad
    assert reconciler.reconcile(harness.name).outcome == "unchanged"  # recorded once


def test_a_manual_rollback_returns_to_a_verified_commit_records_who_asked_and_holds(
    harness: Harness,
) -> None:
    first = harness.commit({"apps/a.yaml": config_map("a", {"v": "1"})})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)
    second = harness.commit(
        {"apps/a.yaml": config_map("a", {"v": "2"}), "apps/b.yaml": config_map("b", {})}
    )
    reconciler.reconcile(harness.name)

    result = reconciler.rollback(
        harness.name, to=first[:12], reason="v2 breaks checkout", requested_by="alice"
    )

    assert result.outcome == "rolled_back"
    live = harness.core().read_namespaced_config_map("a", harness.namespace)
    assert live.data == {"v": "1"}
    assert live.metadata.annotations[contract.COMMIT_ANNOTATION] == first
    names = {
        item.metadata.name
        for item in harness.core().list_namespaced_config_map(harness.namespace).items
    }
    assert "b" not in names
    (rollback,) = harness.records(events.ROLLBACK)
    assert rollback.actor == "alice"
    assert rollback.commit == first
    assert rollback.payload == {
        "from": second,
        "to": first,
        "head": second,
        "reason": "v2 breaks checkout",
        "requested_by": "alice",
        "automatic": False,
    }
    # The sync the rollback causes carries it, and restates what the ledger knows of the
    # commit rather than verifying it again.
    applied = harness.records(events.SYNC_APPLIED)[-1]
    assert applied.seq < rollback.seq
    assert (applied.payload["rollback"], applied.payload["rollback_of"]) == (True, rollback.payload)
    assert applied.payload["verification"] == "ledger"
    (ledger,) = applied.payload["commits"]
    assert (ledger["sha"], ledger["signer"], ledger["format"]) == (first, "alice", "openpgp")
    assert ledger["key"] == harness.keys.alice.fingerprint
    assert ledger["verified_at"] is not None and ledger["author"] is None
    assert [c["object"] for c in applied.payload["changed"]] == [
        f"ConfigMap/{harness.namespace}/a",
        f"ConfigMap/{harness.namespace}/b",
    ]
    assert applied.payload["changed"][1]["digest_after"] is None  # b is pruned
    assert reconciler.reconcile(harness.name).commit == first


def test_a_rollback_to_a_commit_never_verified_for_the_source_is_refused(
    harness: Harness,
) -> None:
    harness.commit({"apps/a.yaml": config_map("a", {"v": "1"})})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)
    unsigned = harness.commit({"apps/a.yaml": config_map("a", {"v": "evil"})}, signer=None)
    reconciler.reconcile(harness.name)

    with pytest.raises(RollbackRefused, match="never verified"):
        reconciler.rollback(harness.name, to=unsigned, reason="try it", requested_by="mallory")

    live = harness.core().read_namespaced_config_map("a", harness.namespace)
    assert live.data == {"v": "1"}
    assert harness.records(events.ROLLBACK) == []


def test_a_rollback_checks_the_current_policies_again(harness: Harness, tmp_path: Any) -> None:
    old = harness.commit({"apps/a.yaml": config_map("a", {"v": "1"}, legacy="yes")})
    harness.reconciler().reconcile(harness.name)
    harness.commit({"apps/a.yaml": config_map("a", {"v": "2"})})
    harness.reconciler().reconcile(harness.name)
    stricter = tmp_path / "stricter"
    stricter.mkdir()
    (stricter / "legacy.rego").write_text(
        "package tests.no_legacy\n\nimport rego.v1\n\n"
        "deny contains msg if {\n"
        '\tinput.review.object.metadata.labels.legacy == "yes"\n'
        '\tmsg := "legacy objects are no longer allowed"\n}\n'
    )
    harness.engine = PolicyEvaluator.from_paths([stricter], engine=create_engine("regorus"))

    with pytest.raises(RollbackRefused, match="no longer allowed"):
        harness.reconciler().rollback(harness.name, to=old, reason="go back", requested_by="bob")

    live = harness.core().read_namespaced_config_map("a", harness.namespace)
    assert live.data == {"v": "2"}


def test_an_automatic_rollback_the_current_policies_refuse_is_recorded_as_unhealthy_once(
    harness: Harness, tmp_path: Any
) -> None:
    manifest = yaml.safe_load(deployment("web", "nginx:1.25"))
    manifest["metadata"]["labels"] = {"legacy": "yes"}
    harness.commit({"apps/web.yaml": yaml.safe_dump(manifest)})
    first = harness.reconciler()
    first.reconcile(harness.name)
    _healthy(harness, "web")
    first.reconcile(harness.name)
    bad = harness.commit({"apps/web.yaml": deployment("web", "nginx:1.26")})
    first.reconcile(harness.name)
    stricter = tmp_path / "stricter"
    stricter.mkdir()
    (stricter / "legacy.rego").write_text(
        "package tests.no_legacy\n\nimport rego.v1\n\n"
        "deny contains msg if {\n"
        '\tinput.review.object.metadata.labels.legacy == "yes"\n'
        '\tmsg := "legacy objects are no longer allowed"\n}\n'
    )
    later = harness.reconciler(
        engine=PolicyEvaluator.from_paths([stricter], engine=create_engine("regorus"))
    )
    _deadline_exceeded(harness, "web")

    result = later.reconcile(harness.name)

    assert result.outcome == "failed"
    assert _commit_of(harness, "web") == bad
    assert harness.records(events.ROLLBACK) == []
    (unhealthy,) = harness.records(SYNC_UNHEALTHY)
    assert "no longer allowed" in unhealthy.payload["reason"]
    assert later.reconcile(harness.name).outcome == "unchanged"
    assert len(harness.records(SYNC_UNHEALTHY)) == 1


def _sync_healthy_config(harness: Harness, reconciler: Any, version: str) -> str:
    """A commit with no workloads: synced, it is recorded healthy in the same pass."""
    commit = harness.commit({"apps/a.yaml": config_map("a", {"v": version})})
    assert reconciler.reconcile(harness.name).outcome == "applied"
    assert harness.records(SYNC_HEALTHY)[-1].commit == commit
    return commit


def test_a_rollback_without_a_target_after_one_with_a_target_goes_further_back_not_forward(
    harness: Harness,
) -> None:
    reconciler = harness.reconciler()
    first = _sync_healthy_config(harness, reconciler, "1")
    second = _sync_healthy_config(harness, reconciler, "2")
    third = _sync_healthy_config(harness, reconciler, "3")
    reconciler.rollback(harness.name, to=second, reason="v3 breaks checkout", requested_by="alice")

    result = reconciler.rollback(
        harness.name, to=None, reason="v2 breaks it too", requested_by="alice"
    )

    assert (result.outcome, result.commit) == ("rolled_back", first)
    live = harness.core().read_namespaced_config_map("a", harness.namespace)
    assert live.data == {"v": "1"}
    last = harness.records(events.ROLLBACK)[-1]
    assert (last.payload["from"], last.payload["to"], last.payload["head"]) == (
        second,
        first,
        third,
    )


def test_a_rollback_without_a_target_is_refused_when_no_healthy_commit_precedes_the_current(
    harness: Harness,
) -> None:
    reconciler = harness.reconciler()
    first = _sync_healthy_config(harness, reconciler, "1")
    _sync_healthy_config(harness, reconciler, "2")
    reconciler.rollback(harness.name, to=first, reason="v2 breaks checkout", requested_by="alice")

    with pytest.raises(RollbackRefused, match=f"no healthy commit before {first[:12]}"):
        reconciler.rollback(harness.name, to=None, reason="go back", requested_by="alice")

    live = harness.core().read_namespaced_config_map("a", harness.namespace)
    assert live.data == {"v": "1"}
    assert len(harness.records(events.ROLLBACK)) == 1


def test_an_unhealthy_sync_rolls_back_to_a_healthy_commit_it_descends_from_not_a_newer_one(
    harness: Harness,
) -> None:
    good = harness.commit({"apps/web.yaml": deployment("web", "nginx:1.25")})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)
    _healthy(harness, "web")
    reconciler.reconcile(harness.name)
    abandoned = harness.commit({"apps/web.yaml": deployment("web", "nginx:1.26")})
    reconciler.reconcile(harness.name)
    _healthy(harness, "web")
    reconciler.reconcile(harness.name)
    assert harness.records(SYNC_HEALTHY)[-1].commit == abandoned
    reconciler.rollback(harness.name, to=good, reason="1.26 leaks memory", requested_by="alice")
    # The branch starts again from the commit rolled back to: 1.26 is left behind for good.
    bad = harness.repo.commit(
        {"apps/web.yaml": deployment("web", "nginx:1.27-broken")},
        signer=harness.keys.signer("alice"),
        parents=(good,),
    )
    assert reconciler.reconcile(harness.name).commit == bad
    _deadline_exceeded(harness, "web")

    result = reconciler.reconcile(harness.name)

    assert (result.outcome, result.commit) == ("rolled_back", good)
    assert _image(harness, "web") == "nginx:1.25"
    last = harness.records(events.ROLLBACK)[-1]
    assert (last.payload["from"], last.payload["to"], last.payload["automatic"]) == (
        bad,
        good,
        True,
    )
