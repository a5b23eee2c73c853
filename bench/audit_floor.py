"""The floor of `audit_store.py`: the same rows written and read straight through the driver.

Each row is what the store writes: the event's canonical JSON payload, its SHA-256 chain hash
over the previous row's, one timestamp per transaction, the object columns derived from the
subject. The floor skips everything else the store does (checking and redacting events,
locks, hand-over between threads, records returned to callers), so the store's figures
divided by these are what the store costs beyond writing the rows at all. The tables are
the ones the migrations create (same indexes and triggers), in a database of their own.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Engine

from gatekeeper.audit import chain
from gatekeeper.audit.events import GENESIS_HASH, NewEvent
from gatekeeper.audit.writer import COLUMNS
from gatekeeper.kube.objects import ObjectKey

TRANSACTION_ROWS = 512
_SQLITE_INSERT = f"INSERT INTO audit_events ({COLUMNS}) VALUES ({', '.join(['?'] * 12)})"
_POSTGRES_INSERT = f"INSERT INTO audit_events ({COLUMNS}) VALUES ({', '.join(['%s'] * 12)})"
_SQLITE_READ = (
    "SELECT seq, time, kind, actor, subject, source, commit_sha, payload, prev_hash, hash "
    "FROM audit_events WHERE seq > ? ORDER BY seq LIMIT 20000"
)
_POSTGRES_READ = (
    "COPY (SELECT seq, to_char(time AT TIME ZONE 'UTC', "
    """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), kind, actor, subject, source, commit_sha, """
    "payload, prev_hash, hash FROM audit_events ORDER BY seq) TO STDOUT"
)


class DriverFloor:
    """Writes chained rows through the engine's driver connection, keeping the head itself."""

    def __init__(self, engine: Engine) -> None:
        self._postgresql = engine.dialect.name == "postgresql"
        self._pooled = engine.raw_connection()
        self._driver: Any = self._pooled.dbapi_connection
        self._seq = 0
        self._head = GENESIS_HASH

    def close(self) -> None:
        self._pooled.close()

    def _rows(self, events: Sequence[NewEvent]) -> list[tuple[Any, ...]]:
        moment = datetime.now(UTC)
        time_text = chain.format_time(moment)
        stored: Any = moment if self._postgresql else time_text
        rows = []
        seq, prev_hash = self._seq, self._head
        for item in events:
            seq += 1
            payload_json = chain.canonical_payload(item.payload)
            digest = chain.record_hash(
                seq=seq,
                time=time_text,
                kind=item.kind,
                actor=item.actor,
                subject=item.subject,
                source=item.source,
                commit=item.commit,
                payload_json=payload_json,
                prev_hash=prev_hash,
            )
            key = ObjectKey.parse(item.subject)
            rows.append(
                (
                    seq,
                    stored,
                    item.kind,
                    item.actor,
                    item.subject,
                    item.source,
                    item.commit,
                    payload_json,
                    prev_hash,
                    digest,
                    None if key is None else key.namespace,
                    None if key is None else key.kind,
                )
            )
            prev_hash = digest
        self._seq, self._head = seq, prev_hash
        return rows

    def _write(self, events: Sequence[NewEvent]) -> None:
        """One transaction: the rows built, inserted and committed."""
        rows = self._rows(events)
        cursor = self._driver.cursor()
        try:
            if self._postgresql:
                if len(rows) == 1:
                    cursor.execute(_POSTGRES_INSERT, rows[0])
                else:
                    with cursor.copy(f"COPY audit_events ({COLUMNS}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                self._driver.commit()
            else:
                cursor.execute("BEGIN")
                if len(rows) == 1:
                    cursor.execute(_SQLITE_INSERT, rows[0])
                else:
                    cursor.executemany(_SQLITE_INSERT, rows)
                cursor.execute("COMMIT")
        finally:
            cursor.close()

    def batched_rate(self, events: Sequence[NewEvent]) -> float:
        """Rows per second in transactions of `TRANSACTION_ROWS` (sqlite3 `executemany`,
        psycopg `COPY`)."""
        started = time.perf_counter()
        for start in range(0, len(events), TRANSACTION_ROWS):
            self._write(events[start : start + TRANSACTION_ROWS])
        return len(events) / (time.perf_counter() - started)

    def single_latencies(self, events: Sequence[NewEvent]) -> list[float]:
        """Milliseconds per one-row transaction, committed, one after another."""
        samples = []
        for item in events:
            started = time.perf_counter()
            self._write([item])
            samples.append((time.perf_counter() - started) * 1000)
        return samples

    def top_up(self, total: int, make: Callable[[int], NewEvent]) -> None:
        """Grow the table to `total` rows in large transactions, events made by `make`."""
        for start in range(self._seq, total, 5000):
            self._write([make(i) for i in range(start, min(start + 5000, total))])

    def _read(self) -> Iterator[tuple[Any, ...]]:
        cursor = self._driver.cursor()
        try:
            if self._postgresql:
                with cursor.copy(_POSTGRES_READ) as copy:
                    copy.set_types(["int8"] + ["text"] * 9)
                    yield from copy.rows()
                self._driver.commit()
                return
            after = -1
            while True:
                cursor.execute(_SQLITE_READ, (after,))
                rows = cursor.fetchall()
                if not rows:
                    return
                yield from rows
                after = int(rows[-1][0])
        finally:
            cursor.close()

    def verify_rate(self) -> float:
        """Rows per second read back and hashed again, each hash held against the row's and
        each link against the previous hash (one process)."""
        started = time.perf_counter()
        count, prev = 0, GENESIS_HASH
        record_hash = chain.record_hash
        for (
            seq,
            moment,
            kind,
            actor,
            subject,
            source,
            commit,
            payload,
            prev_hash,
            digest,
        ) in self._read():
            computed = record_hash(
                seq=seq,
                time=moment,
                kind=kind,
                actor=actor,
                subject=subject,
                source=source,
                commit=commit,
                payload_json=payload,
                prev_hash=prev_hash,
            )
            if computed != digest or prev_hash != prev:
                raise SystemExit(f"floor row {seq} does not verify")
            prev = digest
            count += 1
        return count / (time.perf_counter() - started)
