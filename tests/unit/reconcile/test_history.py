"""A source's state as the records say it: where the last sync left objects to look for."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from gatekeeper.audit import events
from gatekeeper.audit.events import Record
from gatekeeper.reconcile.history import SourceState


def _state(**payload: Any) -> SourceState:
    applied = Record(
        seq=7,
        time=datetime(2027, 1, 15, tzinfo=UTC),
        kind=events.SYNC_APPLIED,
        actor="gatekeeper-reconciler",
        subject="source/apps",
        source="apps",
        commit="2" * 40,
        payload=payload,
        prev_hash="",
        hash="",
    )
    return SourceState(last_applied=applied, last_rejected=None, health_settled=True, hold=None)


def test_the_kinds_to_look_in_are_those_applied_and_those_whose_stale_objects_remain() -> None:
    state = _state(
        kinds=["apps/v1|Deployment", "v1|ConfigMap"],
        stale_kinds=["v1|ConfigMap", "v1|Secret"],
    )

    assert state.applied_kinds == ["apps/v1|Deployment", "v1|ConfigMap", "v1|Secret"]


def test_a_sync_recorded_before_stale_kinds_were_kept_names_only_its_own_kinds() -> None:
    assert _state(kinds=["v1|ConfigMap"]).applied_kinds == ["v1|ConfigMap"]


def test_before_the_first_sync_there_is_no_kind_to_look_in() -> None:
    state = SourceState(last_applied=None, last_rejected=None, health_settled=False, hold=None)

    assert state.applied_kinds == []
