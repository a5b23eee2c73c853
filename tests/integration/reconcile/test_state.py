"""A source's state and status, read back from the audit store on both database engines."""

from __future__ import annotations

import pytest

from gatekeeper.audit import events
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.store import AuditStore
from gatekeeper.reconcile import state

pytestmark = pytest.mark.integration


def _event(kind: str, commit: str, source: str = "apps", **payload: object) -> NewEvent:
    return NewEvent(
        kind=kind, actor="gatekeeper-reconciler", source=source, commit=commit, payload=payload
    )


def test_a_source_never_synced_has_no_state_and_shows_never(store: AuditStore) -> None:
    found = state.load(store, "apps")
    assert found.synced_commit is None
    assert not found.awaiting_health
    assert found.hold is None
    row = state.status(store, "apps")
    assert row["result"] == "never"
    assert row["synced_commit"] is None
    assert row["drift"] is None


def test_the_last_apply_awaits_health_until_judged(store: AuditStore) -> None:
    store.append(_event(events.SYNC_APPLIED, "c1"))
    assert state.load(store, "apps").awaiting_health

    store.append(_event(state.SYNC_HEALTHY, "c1"))
    assert not state.load(store, "apps").awaiting_health

    store.append(_event(events.SYNC_APPLIED, "c2"))
    assert state.load(store, "apps").awaiting_health


def test_a_rollback_holds_the_source_at_its_commit_until_a_normal_apply(
    store: AuditStore,
) -> None:
    store.append_many(
        [
            _event(events.SYNC_APPLIED, "c1"),
            _event(state.SYNC_HEALTHY, "c1"),
            _event(events.SYNC_APPLIED, "c2"),
            _event(events.SYNC_APPLIED, "c1", rollback=True),
            _event(events.ROLLBACK, "c1", head="c2"),
        ]
    )
    held = state.load(store, "apps")
    assert held.hold == state.Hold(commit="c1", head="c2")
    assert not held.awaiting_health

    store.append(_event(events.SYNC_APPLIED, "c3"))
    assert state.load(store, "apps").hold is None


def test_healthy_commits_come_newest_first_once_each_and_of_the_source_only(
    store: AuditStore,
) -> None:
    store.append_many(
        [
            _event(state.SYNC_HEALTHY, "c1"),
            _event(state.SYNC_HEALTHY, "x9", source="other"),
            _event(state.SYNC_HEALTHY, "c2"),
            _event(state.SYNC_HEALTHY, "c1"),
            _event(state.SYNC_UNHEALTHY, "c3"),
        ]
    )
    assert list(state.healthy_commits(store, "apps")) == ["c1", "c2"]
    assert list(state.healthy_commits(store, "nothing")) == []


def test_healthy_commits_are_read_page_by_page_as_far_as_the_caller_goes(
    store: AuditStore,
) -> None:
    store.append_many([_event(state.SYNC_HEALTHY, f"c{n}") for n in range(250)])

    assert list(state.healthy_commits(store, "apps")) == [f"c{n}" for n in reversed(range(250))]
    assert next(state.healthy_commits(store, "apps")) == "c249"


def test_status_shows_the_synced_commit_the_last_attempt_and_the_latest_drift(
    store: AuditStore,
) -> None:
    store.append_many(
        [
            _event(events.SYNC_APPLIED, "c1"),
            NewEvent(
                kind=events.DRIFT_DETECTED,
                actor="kubectl-edit",
                subject="ConfigMap/ns/a",
                source="apps",
                commit="c1",
                payload={"mode": "report"},
            ),
            _event(
                events.SYNC_REJECTED,
                "c2",
                reasons=[{"kind": "untrusted", "message": "commit c2 is not trusted: unsigned"}],
            ),
        ]
    )

    row = state.status(store, "apps")

    assert row["synced_commit"] == "c1"
    assert row["result"] == "rejected"
    assert row["reasons"] == ["commit c2 is not trusted: unsigned"]
    assert row["drift"]["kind"] == events.DRIFT_DETECTED
    assert row["drift"]["object"] == "ConfigMap/ns/a"
    assert row["drift"]["mode"] == "report"
    assert state.status(store, "other")["result"] == "never"
