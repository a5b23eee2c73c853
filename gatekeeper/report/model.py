"""The report model: what an auditor gets for a period, gathered from the audit store."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gatekeeper import __version__
from gatekeeper.audit.events import Record
from gatekeeper.audit.signing import Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.verify import VerifyReport, verify_store

# Report sections: title, and the event kinds each one lists.
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("changes", "Changes applied from Git", ("sync.applied", "sync.pruned")),
    ("rejected", "Changes refused at sync", ("sync.rejected", "sync.failed", "policy.denied")),
    ("admission_denied", "Changes refused at admission", ("admission.denied",)),
    ("breakglass", "Break-glass exceptions", ("breakglass",)),
    ("drift", "Drift detected and corrected", ("drift.detected", "drift.corrected")),
    ("rollbacks", "Rollbacks", ("rollback",)),
    ("policy", "Policy set problems", ("policy.reload_failed",)),
)
_SUMMARY_KEYS = ("reason", "reasons", "message", "messages", "detail", "error", "diff_summary")


@dataclass(frozen=True)
class Row:
    """One event as a report line."""

    seq: int
    time: datetime
    kind: str
    actor: str
    subject: str
    source: str | None
    commit: str | None
    summary: str
    hash: str

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time.isoformat().replace("+00:00", "Z"),
            "kind": self.kind,
            "actor": self.actor,
            "subject": self.subject,
            "source": self.source,
            "commit": self.commit,
            "summary": self.summary,
            "hash": self.hash,
        }


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    kinds: tuple[str, ...]
    rows: tuple[Row, ...]


@dataclass(frozen=True)
class Integrity:
    """The log's verification at the time of the report."""

    ok: bool
    records: int
    head_seq: int
    head_hash: str
    checkpoints: int
    last_checkpoint_seq: int | None
    checkpoints_checked: bool
    first_bad_seq: int | None
    findings: tuple[str, ...]

    @classmethod
    def of(cls, report: VerifyReport, *, checkpoints_checked: bool) -> Integrity:
        return cls(
            ok=report.ok,
            records=report.records,
            head_seq=report.head_seq,
            head_hash=report.head_hash,
            checkpoints=report.checkpoints,
            last_checkpoint_seq=report.last_checkpoint_seq,
            checkpoints_checked=checkpoints_checked,
            first_bad_seq=report.first_bad_seq,
            findings=tuple(f"{f.problem} at {f.seq}: {f.detail}" for f in report.findings),
        )


@dataclass(frozen=True)
class Report:
    """Everything a compliance report shows, independent of its format."""

    generated_at: datetime
    since: datetime | None
    until: datetime | None
    generator: str
    integrity: Integrity
    counts: Mapping[str, int]
    sections: tuple[Section, ...]
    events: tuple[Row, ...] = field(repr=False)

    def as_json(self) -> dict[str, Any]:
        return {
            "generator": self.generator,
            "generated_at": _iso(self.generated_at),
            "period": {"since": _iso(self.since), "until": _iso(self.until)},
            "integrity": {
                "ok": self.integrity.ok,
                "records": self.integrity.records,
                "head_seq": self.integrity.head_seq,
                "head_hash": self.integrity.head_hash,
                "checkpoints": self.integrity.checkpoints,
                "last_checkpoint_seq": self.integrity.last_checkpoint_seq,
                "checkpoints_checked": self.integrity.checkpoints_checked,
                "first_bad_seq": self.integrity.first_bad_seq,
                "findings": list(self.integrity.findings),
            },
            "counts": dict(self.counts),
            "sections": {
                section.key: {
                    "title": section.title,
                    "kinds": list(section.kinds),
                    "events": [row.as_json() for row in section.rows],
                }
                for section in self.sections
            },
            "events": [row.as_json() for row in self.events],
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def summarise(payload: Mapping[str, Any], limit: int = 300) -> str:
    """A short human line from whatever explanation a payload carries."""
    parts: list[str] = _facts(payload)
    for key in _SUMMARY_KEYS:
        value = payload.get(key)
        if value in (None, "", [], {}):
            continue
        if isinstance(value, list | tuple):
            parts.extend(_text(item) for item in value)
        else:
            parts.append(_text(value))
    text = "; ".join(part for part in parts if part)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _facts(payload: Mapping[str, Any]) -> list[str]:
    """What a sync or drift record did, for records that carry no message of their own."""
    facts: list[str] = []
    applied = payload.get("applied")
    if isinstance(applied, list) and applied:
        signer = payload.get("signer")
        facts.append(
            f"applied {len(applied)} object(s)" + (f", signed by {signer}" if signer else "")
        )
    diff = payload.get("diff")
    if isinstance(diff, list) and diff:
        changes = [
            f"{item.get('path')}: {item.get('desired')!r} in Git, {item.get('live')!r} live"
            for item in diff
            if isinstance(item, Mapping)
        ]
        facts.append("; ".join(changes))
    people = payload.get("admitted_changes")
    managers = payload.get("changed_by")
    if isinstance(people, list) and people:
        # The webhook's records name the users; they say more than the field managers.
        facts.append(
            "changed by " + ", ".join(_person(p) for p in people if isinstance(p, Mapping))
        )
    elif isinstance(managers, list) and managers:
        names = sorted({str(m.get("manager")) for m in managers if isinstance(m, Mapping)})
        facts.append("changed by " + ", ".join(names))
    if payload.get("missing") is True:
        facts.append("object deleted from the cluster")
    version, previous = payload.get("version"), payload.get("previous_version")
    if isinstance(version, str) and isinstance(previous, str):
        where = payload.get("component")
        facts.append(
            f"policy set {_short(version)} replaced {_short(previous)}"
            + (f" in the {where}" if where else "")
        )
    return facts


def _person(change: Mapping[str, Any]) -> str:
    """`breakglass (breakglass: INC-9)`: who, and under what decision and reason."""
    reason = change.get("reason")
    decision = change.get("decision")
    detail = f"{decision}: {reason}" if reason else str(decision or "")
    return f"{change.get('user')} ({detail})" if detail else str(change.get("user"))


def _short(version: str) -> str:
    return version[:19]  # "sha256:" and 12 hex digits


def _text(value: Any) -> str:
    if isinstance(value, Mapping):
        for key in ("msg", "message", "reason", "detail"):
            if key in value:
                return str(value[key])
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)


def _row(record: Record) -> Row:
    return Row(
        seq=record.seq,
        time=record.time,
        kind=record.kind,
        actor=record.actor,
        subject=record.subject,
        source=record.source,
        commit=record.commit,
        summary=summarise(record.payload),
        hash=record.hash,
    )


def _records(
    store: AuditStore, since: datetime | None, until: datetime | None, source: str | None
) -> Iterator[Record]:
    cursor: int | None = None
    while True:
        page = store.query(since=since, until=until, source=source, after=cursor, limit=5000)
        yield from page.records
        if page.next_cursor is None:
            return
        cursor = page.next_cursor


def build_report(
    store: AuditStore,
    *,
    since: datetime | None,
    until: datetime | None,
    verifier: Verifier | None,
    source: str | None = None,
    sections: Sequence[tuple[str, str, tuple[str, ...]]] = SECTIONS,
    now: datetime | None = None,
    workers: int = 1,
) -> Report:
    """Gather the period's events and verify the whole log they belong to."""
    rows = [_row(record) for record in _records(store, since, until, source)]
    integrity = Integrity.of(
        verify_store(store, verifier, workers=workers), checkpoints_checked=verifier is not None
    )
    return Report(
        generated_at=now or datetime.now(UTC),
        since=since,
        until=until,
        generator=f"gatekeeper {__version__}",
        integrity=integrity,
        counts=dict(sorted(Counter(row.kind for row in rows).items())),
        sections=tuple(
            Section(key, title, kinds, tuple(row for row in rows if row.kind in kinds))
            for key, title, kinds in sections
        ),
        events=tuple(rows),
    )
