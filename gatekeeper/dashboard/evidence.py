"""Changes, incidents and samples: records linked into what an auditor tests.

A change is one applied sync with its commits, signers, rules, policy set and the objects it
really changed, and the admission records of the reconciler applying that commit. An incident
is a break-glass exception with the drift it caused and the correction, or a drift nobody
declared; times to detect and to correct are measured between their records. Older records
that lack a field give `null` for it, never a guess.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Final

from gatekeeper.audit import chain, events
from gatekeeper.audit.events import Record
from gatekeeper.audit.store import AuditStore
from gatekeeper.dashboard.filters import Filters
from gatekeeper.dashboard.integrity import IntegrityState
from gatekeeper.dashboard.queries import Queries, is_verified

_LINKED: Final = (events.BREAKGLASS, events.DRIFT_DETECTED, events.DRIFT_CORRECTED)
_ADMISSIONS_SHOWN: Final = 50


def _ref(record: Record | None) -> dict[str, Any] | None:
    if record is None:
        return None
    return {"seq": record.seq, "time": chain.format_time(record.time), "actor": record.actor}


def _seconds(first: Record | None, second: Record | None) -> float | None:
    if first is None or second is None:
        return None
    return round((second.time - first.time).total_seconds(), 3)


def change_json(
    record: Record, store: AuditStore, integrity: IntegrityState, *, reconciler: str | None = None
) -> dict[str, Any]:
    """One applied sync as a change, from whatever its payload records."""
    payload: Mapping[str, Any] = record.payload
    changed = payload.get("changed")
    if not isinstance(changed, list):
        # Before per-object digests were recorded: the names of what was applied.
        applied = payload.get("applied")
        changed = [{"object": str(name)} for name in applied] if isinstance(applied, list) else []
    admissions = _admissions(record, store, reconciler) if record.commit else []
    rollback = payload.get("rollback_of") or payload.get("rollback")
    return {
        "seq": record.seq,
        "time": chain.format_time(record.time),
        "source": record.source,
        "commit": record.commit,
        "since": payload.get("since"),
        "actor": record.actor,
        "rollback": rollback if isinstance(rollback, Mapping) else bool(rollback),
        "verification": payload.get("verification"),
        "commits": _list(payload.get("commits")),
        "signer": payload.get("signer"),
        "rules": _list(payload.get("rules")),
        "policy_set": payload.get("policy_set_version"),
        "policy_results": payload.get("policy_results"),
        "warnings": payload.get("warnings") if isinstance(payload.get("warnings"), list) else [],
        "changed": [entry for entry in changed if isinstance(entry, Mapping)],
        "objects": _count(payload.get("objects")),
        "unchanged": _count(payload.get("unchanged")),
        "skipped_gates": payload.get("skipped_gates")
        if isinstance(payload.get("skipped_gates"), list)
        else [],
        "admissions": admissions,
        "hash": record.hash,
        "verified": is_verified(record, integrity),
    }


def _list(value: Any) -> list[Any] | None:
    """A list the payload holds, or None for anything else (the page iterates it)."""
    return value if isinstance(value, list) else None


def _first(record: Record | None, *names: str) -> Any:
    """The first of `names` the record's payload holds (older records used other names)."""
    if record is None:
        return None
    return next((record.payload[name] for name in names if name in record.payload), None)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _admissions(record: Record, store: AuditStore, reconciler: str | None) -> list[dict[str, Any]]:
    """The reconciler's admission records for this sync's commit, between the source's
    previous sync and its next one: later human denials and other applies are not this one's."""
    syncs = [events.SYNC_APPLIED]
    before = store.query(
        kinds=syncs, source=record.source, after=record.seq, order="desc", limit=1
    ).records
    after = store.query(kinds=syncs, source=record.source, after=record.seq, limit=1).records
    page = store.query(
        kinds=[events.ADMISSION_ALLOWED, events.ADMISSION_DENIED],
        commit=record.commit,
        source=record.source,
        actor=reconciler,
        after=before[0].seq if before else None,
        limit=_ADMISSIONS_SHOWN,
    )
    upper = after[0].seq if after else None
    return [
        {"seq": r.seq, "kind": r.kind, "subject": r.subject, "actor": r.actor}
        for r in page.records
        if upper is None or r.seq < upper
    ]


def _count(value: Any) -> int | None:
    """How many objects a payload names, whatever shape an older record gave it."""
    if isinstance(value, list):
        return len(value)
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _linked_after(store: AuditStore, record: Record, kind: str, link: str) -> Record | None:
    """The record of `kind` about the same object that names `record` in its `link` field;
    for records written before such links, the first of `kind` after it, unless a new
    break-glass on the object comes first (that starts another incident)."""
    page = store.query(subject=record.subject, kinds=_LINKED, after=record.seq, limit=50)
    first: Record | None = None
    for found in page.records:
        if found.kind == kind:
            named = found.payload.get(link)
            # A correction may answer a later detection of the same drift (report mode
            # detects again every pass): any detection from this one on counts.
            if named == record.seq or (
                kind == events.DRIFT_CORRECTED and type(named) is int and named >= record.seq
            ):
                return found
            if link not in found.payload and first is None:
                first = found
        elif found.kind == events.BREAKGLASS and first is None:
            return None
    return first


def _belongs_to_an_earlier_incident(store: AuditStore, drift: Record) -> bool:
    """True when this drift is shown with an earlier record: it names a break-glass, or the
    record before it about the same object is a break-glass (records written before such
    links) or another detection not yet corrected (the same drift, detected again)."""
    if isinstance(drift.payload.get("break_glass_seq"), int):
        return True
    page = store.query(subject=drift.subject, kinds=_LINKED, after=drift.seq, order="desc", limit=1)
    if not page.records:
        return False
    before = page.records[0].kind
    if before == events.BREAKGLASS:
        return "break_glass_seq" not in drift.payload
    return before == events.DRIFT_DETECTED


def incident_json(
    record: Record, store: AuditStore, integrity: IntegrityState
) -> dict[str, Any] | None:
    """A break-glass with its drift and correction, or a drift nobody declared; None for a
    drift that belongs to an earlier break-glass (shown with it)."""
    if record.kind == events.DRIFT_DETECTED and _belongs_to_an_earlier_incident(store, record):
        return None
    opened = record if record.kind == events.BREAKGLASS else None
    detected = (
        record
        if opened is None
        else _linked_after(store, record, events.DRIFT_DETECTED, "break_glass_seq")
    )
    corrected = (
        _linked_after(store, detected, events.DRIFT_CORRECTED, "detected_seq")
        if detected is not None
        else None
    )
    payload = record.payload
    return {
        "seq": record.seq,
        "type": "break-glass" if opened is not None else "drift",
        "subject": record.subject,
        "source": record.source or (detected.source if detected else None),
        "actor": record.actor,
        "reason": _text(payload.get("break_glass_reason") or payload.get("reason")),
        "break_glass": _ref(opened),
        "detected": _ref(detected),
        "corrected": _ref(corrected),
        "changes": _first(detected, "diff", "changes"),
        "changed_by": _first(detected, "changed_by", "actors"),
        "admitted_changes": _first(detected, "admitted_changes"),
        "correction": _first(corrected, "changes"),
        "time_to_detect_seconds": _seconds(opened, detected),
        "time_to_correct_seconds": _seconds(detected, corrected),
        "open": corrected is None,
        "verified": all(
            is_verified(r, integrity) for r in (record, detected, corrected) if r is not None
        ),
    }


def change_filters(filters: Filters) -> Filters:
    """The filters of a changes listing: applied syncs only."""
    return replace(filters, kinds=(events.SYNC_APPLIED,))


def incident_filters(filters: Filters) -> Filters:
    """The filters of an incidents listing: the records that open an incident."""
    return replace(filters, kinds=(events.BREAKGLASS, events.DRIFT_DETECTED))


def sample(queries: Queries, filters: Filters, *, n: int, seed: int) -> tuple[list[int], int]:
    """A reproducible sample of `n` changes: `random.Random(seed).sample` over the sorted
    sequence numbers of every matching change. Returns the sample (sorted) and the population."""
    population = [record.seq for record in queries.stream(change_filters(filters))]
    # Reproducible by design: anyone with the seed draws the same sample.
    chosen = random.Random(seed).sample(population, min(n, len(population)))  # noqa: S311
    return sorted(chosen), len(population)
