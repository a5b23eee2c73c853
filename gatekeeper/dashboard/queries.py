"""What the API answers, read from the audit store: listings, records with proofs, sources."""

from __future__ import annotations

import dataclasses
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Final

from gatekeeper.audit import chain
from gatekeeper.audit.errors import CorruptRecord
from gatekeeper.audit.events import GENESIS_HASH, Record
from gatekeeper.audit.store import AuditStore, Page
from gatekeeper.canonical import NotCanonicalisable
from gatekeeper.dashboard.errors import BadRequest, NotFoundError
from gatekeeper.dashboard.filters import Filters
from gatekeeper.dashboard.integrity import IntegrityState
from gatekeeper.report.errors import FilterError
from gatekeeper.report.filters import check_known
from gatekeeper.report.integrity import checkpoint_json

_SOURCES_TTL: Final = 30.0
_STREAM_PAGE: Final = 2000


def recomputed_hash(record: Record) -> str | None:
    """The record's hash as DESIGN section 8 defines it, over its canonical JSON; None when
    its payload has no canonical form (so it cannot match any hash)."""
    try:
        payload_json = chain.canonical_payload(record.payload)
    except NotCanonicalisable:
        return None
    return chain.record_hash(
        seq=record.seq,
        time=chain.format_time(record.time),
        kind=record.kind,
        actor=record.actor,
        subject=record.subject,
        source=record.source,
        commit=record.commit,
        payload_json=payload_json,
        prev_hash=record.prev_hash,
    )


def is_verified(record: Record, integrity: IntegrityState) -> bool:
    """Verified: the record's own hash recomputes and a valid checkpoint vouches for it."""
    return integrity.covers(record.seq) and recomputed_hash(record) == record.hash


def record_json(
    record: Record, integrity: IntegrityState, *, hash_matches: bool | None = None
) -> dict[str, Any]:
    """A record as the API shows it, with whether it is verified: its own hash recomputes
    (checked here, whatever the last full check found) and a valid checkpoint vouches for it."""
    if hash_matches is None:
        hash_matches = recomputed_hash(record) == record.hash
    return {
        "seq": record.seq,
        "time": chain.format_time(record.time),
        "kind": record.kind,
        "actor": record.actor,
        "subject": record.subject,
        "source": record.source,
        "commit": record.commit,
        "payload": dict(record.payload),
        "prev_hash": record.prev_hash,
        "hash": record.hash,
        "verified": hash_matches and integrity.covers(record.seq),
    }


@dataclass
class Queries:
    """Reads for the API over one store; the list of sources is cached briefly."""

    store: AuditStore
    configured_sources: tuple[str, ...] = ()
    _sources: list[tuple[str, int, int]] = field(default_factory=list, init=False)
    _sources_at: float = field(default=-1e9, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    # -- sources ---------------------------------------------------------------------------

    def sources(self, *, fresh: bool = False) -> list[tuple[str, int, int]]:
        with self._lock:
            if not fresh and time.monotonic() - self._sources_at < _SOURCES_TTL:
                return list(self._sources)
        found = self.store.source_summaries()
        with self._lock:
            self._sources, self._sources_at = found, time.monotonic()
        return list(found)

    def known_source(self, name: str) -> bool:
        if name in self.configured_sources:
            return True
        names = {entry[0] for entry in self.sources()}
        return name in names or name in {entry[0] for entry in self.sources(fresh=True)}

    def check(self, filters: Filters) -> None:
        """Refuse filters that can only ever match nothing because of a typo: a source neither
        configured nor named by any record, an event kind nobody records."""
        if filters.source is not None and not self.known_source(filters.source):
            known = sorted({entry[0] for entry in self.sources()} | set(self.configured_sources))
            raise BadRequest(
                f"unknown source {filters.source!r}; known sources: "
                + (", ".join(known) if known else "none yet")
            )
        try:
            check_known(dataclasses.replace(filters, source=None), self.store)
        except FilterError as exc:
            raise BadRequest(f"kind: {exc}") from exc

    def head_seq(self, integrity: IntegrityState) -> int:
        """The log's last seq; when the last row is not even a record, the last the integrity
        check walked (which then says the log is tampered with)."""
        try:
            return self.store.head()[0]
        except CorruptRecord:
            return integrity.checked_upto

    # -- events ----------------------------------------------------------------------------

    def page(
        self, filters: Filters, *, after: int | None, limit: int, newest_first: bool = False
    ) -> Page:
        self.check(filters)
        return self.store.query(
            **filters.query_arguments(),
            after=after,
            limit=limit,
            order="desc" if newest_first else "asc",
        )

    def stream(self, filters: Filters) -> Iterator[Record]:
        """Every matching record, oldest first, read a page at a time."""
        after: int | None = None
        while True:
            page = self.page(filters, after=after, limit=_STREAM_PAGE)
            yield from page.records
            if page.next_cursor is None:
                return
            after = page.next_cursor

    def record(self, seq: int, integrity: IntegrityState) -> dict[str, Any]:
        """One record with its proof: its hash recomputed, its link, its checkpoint."""
        record = self.store.get(seq)
        if record is None:
            head, _ = self.store.head()
            raise NotFoundError(f"there is no record {seq}; the log holds 1 to {head}")
        computed = recomputed_hash(record)
        previous = self.store.get(seq - 1) if seq > 1 else None
        checkpoint = self.store.covering_checkpoint(seq)
        link_matches = (previous.hash if previous else GENESIS_HASH) == record.prev_hash
        shown = record_json(record, integrity, hash_matches=computed == record.hash)
        shown["verified"] = shown["verified"] and link_matches
        return {
            "record": shown,
            "proof": {
                "hash_recomputed": computed,
                "hash_matches": computed == record.hash,
                "previous": None
                if previous is None
                else {"seq": previous.seq, "hash": previous.hash},
                "link_matches": link_matches,
                "checkpoint": checkpoint_json(checkpoint),
                "covered_by_valid_checkpoint": integrity.covers(seq),
                "integrity_status": integrity.status,
            },
        }
