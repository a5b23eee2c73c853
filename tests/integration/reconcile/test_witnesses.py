"""Admitted changes of an object, read back from the webhook's records in the audit store."""

from __future__ import annotations

from typing import Any

import pytest

from gatekeeper.audit import events
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.store import AuditStore
from gatekeeper.reconcile.witnesses import admitted_changes

pytestmark = pytest.mark.integration

SUBJECT = "apps/Deployment/shop/web"


def _decision(store: AuditStore, kind: str, user: str, operation: str, **extra: Any) -> int:
    payload = {
        "user": user,
        "groups": ["team"],
        "operation": operation,
        "reasons": ["unmanaged object"],
        "dry_run": False,
        **extra,
    }
    record = store.append(NewEvent(kind=kind, actor=user, subject=SUBJECT, payload=payload))
    return record.seq


def test_changes_by_people_are_named_newest_first(store: AuditStore) -> None:
    _decision(store, events.ADMISSION_ALLOWED, "reconciler", "UPDATE")
    first = _decision(
        store, events.BREAKGLASS, "bob", "UPDATE", break_glass_reason="INC-1", groups=["oncall"]
    )
    _decision(store, events.ADMISSION_ALLOWED, "carol", "UPDATE", dry_run=True)
    _decision(store, events.ADMISSION_ALLOWED, "dave", "CREATE")
    _decision(store, events.ADMISSION_DENIED, "erin", "UPDATE")
    last = _decision(store, events.ADMISSION_ALLOWED, "hpa", "UPDATE")
    store.append(NewEvent(kind=events.ADMISSION_ALLOWED, actor="x", subject="Other/x", payload={}))

    changes = admitted_changes(store, SUBJECT, after=0, reconciler="reconciler")

    assert [(c.seq, c.user, c.decision) for c in changes] == [
        (last, "hpa", events.ADMISSION_ALLOWED),
        (first, "bob", events.BREAKGLASS),
    ]
    assert changes[1].reason == "INC-1" and changes[1].groups == ("oncall",)
    assert changes[0].reason == "unmanaged object"


def test_only_changes_after_the_sync_and_the_last_correction_count(store: AuditStore) -> None:
    before_sync = _decision(store, events.BREAKGLASS, "bob", "UPDATE", break_glass_reason="a")
    undone = _decision(store, events.BREAKGLASS, "bob", "UPDATE", break_glass_reason="b")
    store.append(NewEvent(kind=events.DRIFT_CORRECTED, actor="gatekeeper", subject=SUBJECT))
    newest = _decision(store, events.BREAKGLASS, "carol", "DELETE", break_glass_reason="c")

    changes = admitted_changes(store, SUBJECT, after=before_sync, reconciler="reconciler")

    assert [c.seq for c in changes] == [newest]
    assert undone not in [c.seq for c in changes]


def test_a_long_history_keeps_its_newest_changes(store: AuditStore) -> None:
    for _ in range(60):
        _decision(store, events.ADMISSION_ALLOWED, "reconciler", "UPDATE")
    for n in range(60):
        _decision(store, events.ADMISSION_ALLOWED, f"user{n}", "UPDATE")

    changes = admitted_changes(store, SUBJECT, after=0, reconciler="reconciler", limit=5)

    assert [c.user for c in changes] == ["user59", "user58", "user57", "user56", "user55"]
