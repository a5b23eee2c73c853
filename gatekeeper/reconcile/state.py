"""A source's state, read back from the audit store: nothing else needs to survive a restart.

The reconciler keeps no state file. What it last applied, which commits proved healthy, and
whether a rollback holds the source are all in the append-only log, found by a few indexed
queries on (source, kind) for the newest record.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any, Final, Protocol

from gatekeeper.audit import events
from gatekeeper.audit.events import NewEvent, Record
from gatekeeper.audit.secret_digest import SecretDigester
from gatekeeper.audit.store import Page
from gatekeeper.reconcile.history import SYNC_HEALTHY, SYNC_UNHEALTHY, Hold, SourceState

__all__ = [
    "ATTEMPT_KINDS",
    "DRIFT_KINDS",
    "SYNC_HEALTHY",
    "SYNC_UNHEALTHY",
    "EventStore",
    "Hold",
    "SourceState",
    "healthy_commits",
    "latest",
    "load",
    "status",
]

ATTEMPT_KINDS: Final = (events.SYNC_APPLIED, events.SYNC_REJECTED, events.SYNC_FAILED)
DRIFT_KINDS: Final = (events.DRIFT_DETECTED, events.DRIFT_CORRECTED)


class EventStore(Protocol):
    """The audit store as the reconciler uses it."""

    @property
    def secret_digester(self) -> SecretDigester: ...

    def append_many(self, events: list[NewEvent]) -> list[Record]: ...

    def query(
        self,
        *,
        kinds: tuple[str, ...] | list[str] = (),
        source: str | None = None,
        subject: str | None = None,
        commit: str | None = None,
        after: int | None = None,
        limit: int = 100,
        order: Any = "asc",
    ) -> Page: ...


def latest(store: EventStore, source: str, *kinds: str, commit: str | None = None) -> Record | None:
    """The newest record of any of `kinds` for `source` (and `commit`, when given)."""
    page = store.query(kinds=list(kinds), source=source, commit=commit, limit=1, order="desc")
    return page.records[0] if page.records else None


def load(store: EventStore, source: str) -> SourceState:
    applied = latest(store, source, events.SYNC_APPLIED)
    rejected = latest(store, source, events.SYNC_REJECTED)
    settled = False
    hold: Hold | None = None
    if applied is not None:
        judged = latest(store, source, SYNC_HEALTHY, SYNC_UNHEALTHY, events.ROLLBACK)
        settled = judged is not None and judged.seq > applied.seq
        if applied.payload.get("rollback"):
            rollback = latest(store, source, events.ROLLBACK)
            if rollback is not None and rollback.seq > applied.seq and rollback.commit:
                head = rollback.payload.get("head")
                hold = Hold(rollback.commit, str(head) if head else None)
    return SourceState(
        last_applied=applied, last_rejected=rejected, health_settled=settled, hold=hold
    )


def healthy_commits(store: EventStore, source: str) -> Iterator[str]:
    """The commits of `source` that proved healthy, newest first, each once; the records are
    read a page at a time, as far as the caller goes."""
    seen: set[str] = set()
    after: int | None = None
    while True:
        page = store.query(
            kinds=[SYNC_HEALTHY], source=source, after=after, limit=100, order="desc"
        )
        for record in page.records:
            if record.commit and record.commit not in seen:
                seen.add(record.commit)
                yield record.commit
        if page.next_cursor is None:
            return
        after = page.next_cursor


def status(store: EventStore, source: str) -> dict[str, Any]:
    """What `gatekeeper status` shows for one source."""
    applied = latest(store, source, events.SYNC_APPLIED)
    attempt = latest(store, source, *ATTEMPT_KINDS)
    drift = latest(store, source, *DRIFT_KINDS)
    health = latest(store, source, SYNC_HEALTHY, SYNC_UNHEALTHY, events.ROLLBACK)
    state = load(store, source)
    return {
        "source": source,
        "synced_commit": applied.commit if applied else None,
        "synced_at": _time(applied),
        "last_attempt": _time(attempt),
        "result": _result(attempt),
        "reasons": _reasons(attempt),
        "drift": None
        if drift is None
        else {
            "kind": drift.kind,
            "object": drift.subject,
            "at": _time(drift),
            "mode": drift.payload.get("mode"),
        },
        "health": None if health is None else {"kind": health.kind, "commit": health.commit},
        "held_at": state.hold.commit if state.hold else None,
    }


def _time(record: Record | None) -> str | None:
    return record.time.isoformat() if record is not None else None


_RESULTS: Final[Mapping[str, str]] = {
    events.SYNC_APPLIED: "applied",
    events.SYNC_REJECTED: "rejected",
    events.SYNC_FAILED: "failed",
}


def _result(record: Record | None) -> str:
    return "never" if record is None else _RESULTS.get(record.kind, record.kind)


def _reasons(record: Record | None) -> list[str]:
    if record is None or record.kind == events.SYNC_APPLIED:
        return []
    reasons = record.payload.get("reasons") or []
    if record.kind == events.SYNC_FAILED:
        return [str(record.payload.get("error", ""))]
    return [str(reason.get("message", "")) for reason in reasons if isinstance(reason, Mapping)]
