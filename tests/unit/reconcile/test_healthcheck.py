"""After a sync: healthy, still waiting, or unhealthy, and what follows."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gatekeeper.audit import events
from gatekeeper.audit.events import Record
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.reconcile import healthcheck
from gatekeeper.reconcile.history import SYNC_UNHEALTHY, SourceState
from tests.unit.reconcile.fakes import source_settings

COMMIT = "c" * 40
WEB = ObjectKey("apps", "Deployment", "shop", "web")


def _web() -> list[DesiredObject]:
    manifest = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"}}
    return [DesiredObject(key=WEB, path="web.yaml", manifest=manifest)]


def _live(**status: Any) -> dict[ObjectKey, dict[str, Any]]:
    obj = {
        "kind": "Deployment",
        "metadata": {"name": "web", "generation": 1},
        "spec": {"replicas": 1},
        "status": {"observedGeneration": 1, **status},
    }
    return {WEB: obj}


def _judge(live: dict[ObjectKey, dict[str, Any]], *, after: float) -> healthcheck.Judgement:
    return healthcheck.judge(
        _web(), live, commit=COMMIT, applied_at=100.0, now=100.0 + after, timeout=60
    )


READY = {"replicas": 1, "updatedReplicas": 1, "availableReplicas": 1}
FAILED = {
    "conditions": [
        {"type": "Progressing", "reason": "ProgressDeadlineExceeded", "message": "stuck"}
    ]
}


def test_workloads_that_are_ready_are_healthy() -> None:
    assert _judge(_live(**READY), after=1).status == "healthy"


def test_a_commit_without_workloads_is_healthy_at_once() -> None:
    judgement = healthcheck.judge([], {}, commit=COMMIT, applied_at=0, now=0, timeout=60)

    assert judgement.status == "healthy"


def test_workloads_not_ready_yet_are_waited_for_until_the_timeout() -> None:
    assert _judge(_live(), after=59).status == "waiting"

    late = _judge(_live(), after=60)

    assert late.status == "unhealthy"
    assert late.reason.startswith(
        f"unhealthy after sync of {COMMIT[:12]}: apps/Deployment/shop/web:"
    )


def test_a_failed_workload_is_unhealthy_without_waiting() -> None:
    judgement = _judge(_live(**FAILED), after=1)

    assert judgement.status == "unhealthy"
    assert judgement.reason.endswith("apps/Deployment/shop/web: stuck")


def test_an_unhealthy_sync_rolls_back_only_where_allowed_and_possible() -> None:
    assert healthcheck.rollback_target(source_settings(), "a" * 40) == "a" * 40
    assert healthcheck.rollback_target(source_settings(), None) is None
    assert healthcheck.rollback_target(source_settings(autoRollback=False), "a" * 40) is None


def test_an_unhealthy_record_says_why_no_rollback_happened() -> None:
    judgement = _judge(_live(**FAILED), after=1)

    record, result = healthcheck.unhealthy(
        "apps", COMMIT, actor="me", judgement=judgement, refused="policies refuse it"
    )

    assert record.kind == SYNC_UNHEALTHY
    assert record.payload["reason"].endswith("stuck; policies refuse it")
    assert (result.outcome, result.message) == ("failed", record.payload["reason"])


def _applied(commit: str, **payload: Any) -> Record:
    return Record(
        seq=1,
        time=datetime(2027, 1, 15, tzinfo=UTC),
        kind=events.SYNC_APPLIED,
        actor="me",
        subject="source/apps",
        source="apps",
        commit=commit,
        payload=payload,
        prev_hash="",
        hash="",
    )


def test_a_judgement_is_owed_only_for_the_commit_a_sync_last_applied() -> None:
    def state(record: Record | None, settled: bool = False) -> SourceState:
        return SourceState(
            last_applied=record, last_rejected=None, health_settled=settled, hold=None
        )

    assert healthcheck.owed(state(_applied(COMMIT)), COMMIT)
    assert not healthcheck.owed(state(_applied("d" * 40)), COMMIT)
    assert not healthcheck.owed(state(_applied(COMMIT), settled=True), COMMIT)
    assert not healthcheck.owed(state(_applied(COMMIT, rollback=True)), COMMIT)
    assert not healthcheck.owed(state(None), COMMIT)
