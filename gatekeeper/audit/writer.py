"""The chain writer: appends rows to the log on one kept driver connection, under the lock.

Every admission answer waits for its record's commit, so the append path skips SQLAlchemy's
execution layer (checkout, events, statement compilation: about 200 µs per commit) and talks to
the driver directly. Reads, checkpoints and migrations still go through SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from sqlalchemy import Engine

from gatekeeper.audit.database import CHAIN_LOCK_KEY, SQLITE_BUSY_TIMEOUT_MS
from gatekeeper.audit.errors import (
    AppendOnlyViolation,
    AuditError,
    SchemaMissing,
    StoreBusy,
    StoreUnavailable,
)

T = TypeVar("T")
# Given the chain's head (seq, hash), the rows to insert and what the caller gets back.
Seal = Callable[[int, str], tuple[Sequence[tuple[Any, ...]], T]]

COLUMNS = (
    "seq, time, kind, actor, subject, source, commit_sha, payload, prev_hash, hash, "
    "obj_namespace, obj_kind"
)
_HEAD = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
_ROWS_PER_INSERT = 500
_ONE_ROW = "(" + ", ".join(["?"] * 12) + ")"


class ChainWriter:
    """Appends under the chain's lock: SQLite's write lock or PostgreSQL's advisory lock.

    Each append borrows a connection from the engine's pool for one transaction; threads of
    one process take turns on a thread lock, other processes on the database's lock. On a
    SQLite file, processes first queue on a lock file beside the database: SQLite's own
    wait is a sleep that grows to 100 ms, so a busy process could starve the others (seen
    as a p99 of a second with two webhook workers at full load), while a waiter on the file
    is woken as soon as it is free.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgresql = engine.dialect.name == "postgresql"
        self._lock = threading.Lock()
        self._lock_file = _lock_file(engine)

    def append(self, seal: Seal[T], *, timeout: float | None = None) -> T:
        """Read the head, seal rows onto it and commit them, all in one transaction.

        With `timeout`, waiting for the locks (this process's, the lock file, the database's)
        ends after that many seconds with `StoreBusy`, and nothing is written.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            raise StoreBusy(f"the audit store is busy: no turn to write within {timeout:g} s")
        try:
            with _locked_file(self._lock_file, deadline):
                try:
                    connection = self._engine.raw_connection()
                except Exception as exc:
                    raise translate(exc) from exc
                try:
                    return self._transaction(connection.dbapi_connection, seal, deadline)
                except AuditError:
                    self._rollback(connection)
                    raise
                except Exception as exc:
                    error = translate(exc)
                    if isinstance(error, StoreUnavailable) and not isinstance(error, StoreBusy):
                        # The connection itself may be what failed.
                        _discard(connection)
                    else:
                        self._rollback(connection)
                    raise error from exc
                finally:
                    if connection.is_valid:
                        connection.close()
        finally:
            self._lock.release()

    def _transaction(self, driver: Any, seal: Seal[T], deadline: float | None) -> T:
        cursor = driver.cursor()
        bounded = deadline is not None
        try:
            if self._postgresql:
                if deadline is not None:
                    cursor.execute(f"SET LOCAL lock_timeout = {_milliseconds(deadline)}")
                cursor.execute("SELECT pg_advisory_xact_lock(%s)", (CHAIN_LOCK_KEY,))
            else:
                if deadline is not None:
                    cursor.execute(f"PRAGMA busy_timeout = {_milliseconds(deadline)}")
                cursor.execute("BEGIN IMMEDIATE")
            cursor.execute(_HEAD)
            head = cursor.fetchone()
            if deadline is not None and time.monotonic() > deadline:
                # Whatever made this late (a pool checkout, a reconnect), the caller has
                # given up by now: what it was told must stay true.
                raise StoreBusy("the audit store is busy: the write lock came too late")
            rows, result = seal(0, "0" * 64) if head is None else seal(int(head[0]), str(head[1]))
            if self._postgresql:
                with cursor.copy(f"COPY audit_events ({COLUMNS}) FROM STDIN") as copy:
                    for row in rows:
                        copy.write_row(row)
                driver.commit()
            else:
                _insert_sqlite(cursor, rows)
                cursor.execute("COMMIT")
        finally:
            if bounded and not self._postgresql:
                with contextlib.suppress(Exception):
                    cursor.execute(f"PRAGMA busy_timeout = {SQLITE_BUSY_TIMEOUT_MS}")
            cursor.close()
        return result

    def _rollback(self, connection: Any) -> None:
        driver = connection.dbapi_connection
        try:
            if self._postgresql:
                driver.rollback()
            elif driver.in_transaction:
                driver.execute("ROLLBACK")
        except Exception:  # a connection that cannot roll back is of no further use
            _discard(connection)


def _lock_file(engine: Engine) -> str | None:
    """The lock file of a SQLite database file (`<database>-writer-lock`), else None."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return f"{database}-writer-lock"


@contextlib.contextmanager
def _locked_file(path: str | None, deadline: float | None) -> Iterator[None]:
    if path is None:
        yield
        return
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError:
        # A folder the writer cannot create files in: SQLite's own lock still keeps one
        # chain, only the wake-ups are slower.
        yield
        return
    try:
        _lock_exclusively(descriptor, deadline)
        yield
    finally:
        os.close(descriptor)  # releases the lock


def _lock_exclusively(descriptor: int, deadline: float | None) -> None:
    if deadline is None:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        return
    # flock has no timed wait, so a bounded wait polls. Often and at an even pace: a
    # growing pause would let a busy process take the lock again and again (SQLite's own
    # retry, with pauses growing to 100 ms, starved whole processes that way).
    while True:
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            if time.monotonic() >= deadline:
                raise StoreBusy(
                    "the audit store is busy: another process holds its write lock"
                ) from None
            time.sleep(0.0001)


def _milliseconds(deadline: float) -> int:
    return max(1, int((deadline - time.monotonic()) * 1000))


def _discard(connection: Any) -> None:
    # It is being thrown away either way.
    with contextlib.suppress(Exception):
        connection.invalidate()


def _insert_sqlite(cursor: Any, rows: Sequence[tuple[Any, ...]]) -> None:
    # Multi-row statements: one per row would release and retake the GIL per row.
    for start in range(0, len(rows), _ROWS_PER_INSERT):
        chunk = rows[start : start + _ROWS_PER_INSERT]
        flat = tuple(value for row in chunk for value in row)
        cursor.execute(
            f"INSERT INTO audit_events ({COLUMNS}) VALUES " + ", ".join([_ONE_ROW] * len(chunk)),
            flat,
        )


def translate(error: BaseException) -> AuditError:
    """The audit error for a database error (driver's or SQLAlchemy's), by its message."""
    original = getattr(error, "orig", None) or error
    message = str(original).strip() or type(original).__name__
    first = message.splitlines()[0]
    lowered = message.lower()
    if "no such table" in lowered or ("relation" in lowered and "does not exist" in lowered):
        return SchemaMissing("the audit tables do not exist; run `gatekeeper db upgrade`")
    if "append-only" in lowered:
        return AppendOnlyViolation(first)
    if "lock timeout" in lowered or "database is locked" in lowered:
        return StoreBusy(f"the audit store is busy: {first}")
    return StoreUnavailable(f"audit database error: {first}")
