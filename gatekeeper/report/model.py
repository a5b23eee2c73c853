"""The report model: a period's integrity, counts and sections, gathered in one streaming pass.

`build_report` reads the store a page at a time and keeps only counts and the first rows of
each section; the whole population is read again, page by page, by whoever writes it out
(`Report.iter_records`), so memory stays flat however long the period.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from gatekeeper import __version__
from gatekeeper.audit import chain
from gatekeeper.audit.signing import Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.verify import verify_store
from gatekeeper.report.filters import ReportFilters, check_known, iso
from gatekeeper.report.integrity import Coverage, Integrity, SeqRange, assess
from gatekeeper.report.reader import Entry, iter_period
from gatekeeper.report.summary import summarise

# Report sections: key, title, and the event kinds each one lists.
SECTIONS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    ("changes", "Changes applied from Git", ("sync.applied", "sync.pruned")),
    ("rejected", "Changes refused at sync", ("sync.rejected", "sync.failed", "policy.denied")),
    ("admission_denied", "Changes refused at admission", ("admission.denied",)),
    ("breakglass", "Break-glass exceptions", ("breakglass",)),
    ("drift", "Drift detected and corrected", ("drift.detected", "drift.corrected")),
    ("rollbacks", "Rollbacks", ("rollback",)),
    ("policy", "Policy set problems", ("policy.reload_failed",)),
)
# Rows each section shows in HTML and PDF; the CSV (and JSON) hold every event.
ROW_LIMIT = 200

RecordSource = Callable[[], Iterator[Entry]]


class Sink(Protocol):
    """Where a rendering goes: a binary file, a socket's writer, a zip entry, a digest."""

    def write(self, data: bytes, /) -> object: ...


@dataclass(frozen=True)
class Row:
    """One event as a report line; `checkpoint` is the seq of the checkpoint covering it."""

    seq: int
    time: datetime
    kind: str
    actor: str
    subject: str
    source: str | None
    commit: str | None
    summary: str
    prev_hash: str
    hash: str
    checkpoint: int | None

    @property
    def covered(self) -> bool:
        return self.checkpoint is not None

    def as_json(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": chain.format_time(self.time),
            "kind": self.kind,
            "actor": self.actor,
            "subject": self.subject,
            "source": self.source,
            "commit": self.commit,
            "summary": self.summary,
            "prev_hash": self.prev_hash,
            "hash": self.hash,
            "checkpoint": self.checkpoint,
        }


@dataclass(frozen=True)
class Section:
    """The events of some kinds: how many there are, and the first `ROW_LIMIT` of them."""

    key: str
    title: str
    kinds: tuple[str, ...]
    count: int
    rows: tuple[Row, ...]

    @property
    def truncated(self) -> bool:
        return self.count > len(self.rows)


@dataclass(frozen=True)
class Report:
    """Everything a compliance report states, whatever its format.

    `iter_records` reads the report's records again from the store, in sequence order, up
    to the chain head that was verified: records appended since are not part of it.
    """

    generated_at: datetime
    generator: str
    filters: ReportFilters
    integrity: Integrity
    period: SeqRange
    counts: Mapping[str, int]
    sources: Mapping[str, int]
    sections: tuple[Section, ...]
    row_limit: int
    signing_key_id: str | None
    appendix: str | None
    coverage: Coverage = field(repr=False, compare=False)
    records: RecordSource = field(repr=False, compare=False)

    def iter_records(self) -> Iterator[Entry]:
        return self.records()

    def section_of(self, kind: str) -> str | None:
        for section in self.sections:
            if kind in section.kinds:
                return section.key
        return None

    def checkpoint_of(self, seq: int) -> int | None:
        """The seq of the checkpoint that covers record `seq`, None when none does yet."""
        found = self.coverage.covering(seq)
        return None if found is None else found.seq

    def verification_steps(self) -> list[str]:
        """How a reader checks this report and the log behind it, without trusting its text."""
        key = self.signing_key_id
        signed = (
            f"This file is signed with the audit key {key}: the detached signature travels "
            "beside it as '<file name>.sig' (in an evidence bundle, MANIFEST.sig signs every "
            "file). It signs the SHA-256 of this file's exact bytes; check it offline with "
            "sha256sum, jq and openssl, or gatekeeper.report.signing.verify_file "
            "(docs/evidence.md)."
            if key
            else "This file is NOT signed: no audit signing key was configured when it was made."
        )
        appendix = (
            f"Every event of the report, with its hash, is in {self.appendix}."
            if self.appendix
            else "Every event of the report, with its hash, is in the CSV rendering: "
            "`"
            + " ".join(["gatekeeper report --format csv", *self.filters.command_options()])
            + " -o events.csv`."
        )
        return [
            signed,
            "The log itself: `gatekeeper audit verify` recomputes every hash and checks every "
            "checkpoint signature; an evidence bundle (`gatekeeper audit bundle`) is checked "
            "with no database by `gatekeeper audit verify --bundle FILE.zip --trusted-key "
            "PUBLIC-KEY.pem`.",
            "Each line below carries its sequence number and hash; `gatekeeper audit log "
            "--after SEQ-1 --limit 1 --format json` shows the stored record to compare.",
            appendix,
        ]

    def header_json(self) -> dict[str, Any]:
        """Everything but the events, as the JSON rendering states it."""
        return {
            "type": "gatekeeper.report/v1",
            "generator": self.generator,
            "generated_at": iso(self.generated_at),
            "filters": self.filters.as_json(),
            "integrity": self.integrity.as_json(),
            "signature": {
                "key_id": self.signing_key_id,
                "detached": "<file name>.sig" if self.signing_key_id else None,
            },
            "how_to_verify": self.verification_steps(),
            "summary": {
                "events": self.period.count,
                "first_seq": self.period.first,
                "last_seq": self.period.last,
                "by_kind": dict(self.counts),
                "by_source": dict(self.sources),
            },
            "sections": {
                section.key: {"title": section.title, "kinds": list(section.kinds)}
                | {"count": section.count}
                for section in self.sections
            },
            "appendix": self.appendix,
        }


def build_report(
    store: AuditStore,
    filters: ReportFilters,
    *,
    verifier: Verifier | None,
    signing_key_id: str | None = None,
    row_limit: int = ROW_LIMIT,
    appendix: str | None = None,
    sections: Sequence[tuple[str, str, tuple[str, ...]]] = SECTIONS,
    now: datetime | None = None,
    workers: int = 1,
) -> Report:
    """Verify the whole log, then gather what `filters` select in one pass over the store.

    `verifier` checks checkpoint signatures; None makes the report "not verified", never
    green. `signing_key_id` names the key the rendered files will be signed with (None: they
    will not be). `FilterError` when a filter names a source or kind the log has never seen.
    """
    check_known(filters, store)
    coverage = Coverage(store.checkpoints())
    verification = verify_store(store, verifier, workers=workers)
    head = verification.head_seq
    kinds: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    counts = {key: 0 for key, _, _ in sections}
    shown: dict[str, list[Row]] = {key: [] for key, _, _ in sections}
    section_of = {kind: key for key, _, section_kinds in sections for kind in section_kinds}
    total, first, last = 0, None, None
    uncovered, uncovered_first = 0, None
    for entry in iter_period(store, filters, upto=head):
        total += 1
        first = entry.seq if first is None else first
        last = entry.seq
        kinds[entry.kind] += 1
        sources[entry.source or "(none)"] += 1
        checkpoint = coverage.covering(entry.seq)
        if checkpoint is None:
            uncovered += 1
            uncovered_first = entry.seq if uncovered_first is None else uncovered_first
        key = section_of.get(entry.kind)
        if key is not None:
            counts[key] += 1
            if len(shown[key]) < row_limit:
                shown[key].append(_row(entry, checkpoint.seq if checkpoint else None))
    period = SeqRange(total, first, last)
    integrity: Integrity = assess(
        verification,
        coverage=coverage,
        public_key_id=None if verifier is None else verifier.key_id,
        period=period,
        uncovered_period=SeqRange(uncovered, uncovered_first, last if uncovered else None),
    )
    return Report(
        generated_at=now or datetime.now(UTC),
        generator=f"gatekeeper {__version__}",
        filters=filters,
        integrity=integrity,
        period=period,
        counts=dict(sorted(kinds.items())),
        sources=dict(sorted(sources.items())),
        sections=tuple(
            Section(key, title, tuple(section_kinds), counts[key], tuple(shown[key]))
            for key, title, section_kinds in sections
        ),
        row_limit=row_limit,
        signing_key_id=signing_key_id,
        appendix=appendix,
        coverage=coverage,
        records=lambda: iter_period(store, filters, upto=head),
    )


def _row(entry: Entry, checkpoint: int | None) -> Row:
    return Row(
        seq=entry.seq,
        time=chain.parse_time(entry.time),
        kind=entry.kind,
        actor=entry.actor,
        subject=entry.subject,
        source=entry.source,
        commit=entry.commit,
        summary=summary_of(entry),
        prev_hash=entry.prev_hash,
        hash=entry.hash,
        checkpoint=checkpoint,
    )


def summary_of(entry: Entry) -> str:
    """The report line's explanation of a stored record."""
    payload = json.loads(entry.payload)
    return summarise(payload) if isinstance(payload, dict) else ""
