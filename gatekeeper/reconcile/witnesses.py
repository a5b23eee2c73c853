"""Who changed a drifted object, from the admission webhook's own records.

With the webhook in front of the cluster, a managed object changes outside Git only through an
admitted request: break-glass, an exempt user or group, or while the webhook was not called.
Each of those is in the audit log with its user, groups and reason, under the same subject as
the drift, so the drift record can name the person rather than the field manager.
"""

from __future__ import annotations

from gatekeeper.audit import events
from gatekeeper.audit.events import Record
from gatekeeper.reconcile.history import AdmittedChange
from gatekeeper.reconcile.state import EventStore

__all__ = ["AdmittedChange", "admitted_changes"]

_CHANGES = ("UPDATE", "DELETE")
_KINDS = (events.BREAKGLASS, events.ADMISSION_ALLOWED)
_READ = 500  # decisions read per drifted object, newest first


def admitted_changes(
    store: EventStore, subject: str, *, after: int, reconciler: str, limit: int = 50
) -> list[AdmittedChange]:
    """Changes of `subject` the webhook admitted after record `after`, newest first."""
    last = store.query(subject=subject, kinds=[events.DRIFT_CORRECTED], order="desc", limit=1)
    if last.records:
        # Changes before the last correction were undone by it. In report mode nothing is
        # corrected, so each pass names the same people until Git catches up.
        after = max(after, last.records[0].seq)
    # Newest first, so that a long history keeps its latest changes, not its oldest.
    page = store.query(subject=subject, kinds=list(_KINDS), order="desc", limit=_READ)
    found = [
        _change(record)
        for record in page.records
        if record.seq > after and _counts(record, reconciler)
    ]
    return found[:limit]


def _counts(record: Record, reconciler: str) -> bool:
    payload = record.payload
    return (
        payload.get("operation") in _CHANGES
        and not payload.get("dry_run", False)
        and payload.get("user", record.actor) != reconciler
    )


def _change(record: Record) -> AdmittedChange:
    payload = record.payload
    reason = str(payload.get("break_glass_reason") or "; ".join(payload.get("reasons") or []))
    return AdmittedChange(
        seq=record.seq,
        time=record.time.isoformat(),
        user=str(payload.get("user", record.actor)),
        groups=tuple(str(group) for group in payload.get("groups") or ()),
        operation=str(payload.get("operation")),
        decision=record.kind,
        reason=reason,
    )
