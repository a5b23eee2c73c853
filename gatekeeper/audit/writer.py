"""The chain writer: appends rows to the log on one kept driver connection, under the lock.

Every admission answer waits for its record's commit, so the append path skips SQLAlchemy's
execution layer (checkout, events, statement compilation: about 200 µs per commit) and talks to
the driver directly, on a connection of its own that it keeps between appends: no pool
checkout, no reset on return, and settings (SQLite's busy timeout) changed only when they
must. On PostgreSQL the whole append is two round trips: the lock and the head in one, the
rows and the commit in the other. Reads, checkpoints and migrations still go through
SQLAlchemy.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
import time
import weakref
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
from gatekeeper.audit.events import GENESIS_HASH

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
_PG_ONE_ROW = "(" + ", ".join(["%s"] * 12) + ")"
# Up to this many rows go to PostgreSQL as one INSERT sent with the COMMIT; more by COPY.
_PG_INSERT_ROWS = 32
# A bounded wait for SQLite's lock is set in steps of this many milliseconds, rounded down,
# so that successive appends usually find the setting already right.
_BUSY_STEP_MS = 250


class _Retry(Exception):
    """A kept connection failed before anything was sealed: try once on a fresh one."""


class ChainWriter:
    """Appends under the chain's lock: SQLite's write lock or PostgreSQL's advisory lock.

    Appends run one at a time on one driver connection the writer keeps (taken out of the
    engine's pool, closed by `close`); threads of one process take turns on a thread
    lock, other processes on the database's lock. On a SQLite file, processes first queue on
    a lock file beside the database: SQLite's own wait is a sleep that grows to 100 ms, so a
    busy process could starve the others (seen as a p99 of a second with two webhook workers
    at full load), while a waiter on the file is woken as soon as it is free.
    """

    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        self._postgresql = engine.dialect.name == "postgresql"
        self._lock = threading.Lock()
        self._lock_path = _lock_file(engine)
        # The lock file, opened by this process (`_lock_pid`): a forked child opens its own,
        # since a flock held through a shared open file would not keep the two apart.
        self._lock_descriptor: int | None = None
        self._lock_pid = 0
        self._connection: Any = None  # the kept pool connection
        self._busy_ms = SQLITE_BUSY_TIMEOUT_MS  # SQLite busy timeout the connection has

    def append(self, seal: Seal[T], *, timeout: float | None = None) -> T:
        """Read the head, seal rows onto it and commit them, all in one transaction.

        With `timeout`, waiting for the locks (this process's, the lock file, the database's)
        ends after that many seconds with `StoreBusy`, and nothing is written.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        if not self._lock.acquire(timeout=-1 if timeout is None else max(timeout, 0.0)):
            raise StoreBusy(f"the audit store is busy: no turn to write within {timeout:g} s")
        try:
            with self._locked_file(deadline):
                try:
                    return self._append(seal, deadline, retry=True)
                except _Retry:
                    return self._append(seal, deadline, retry=False)
        finally:
            self._lock.release()

    def close(self) -> None:
        """Close the kept connection and the lock file."""
        with self._lock:
            if self._connection is not None:
                _close_quietly(self._connection)
                self._connection = None
            if self._lock_descriptor is not None and self._lock_pid == os.getpid():
                with contextlib.suppress(OSError):
                    os.close(self._lock_descriptor)
            self._lock_descriptor = None

    def _append(self, seal: Seal[T], deadline: float | None, *, retry: bool) -> T:
        reused = self._connection is not None
        connection = self._connection if reused else self._connect()
        sealed = False

        def sealing(seq: int, prev_hash: str) -> tuple[Sequence[tuple[Any, ...]], T]:
            nonlocal sealed
            sealed = True
            return seal(seq, prev_hash)

        try:
            return self._transaction(connection.dbapi_connection, sealing, deadline)
        except AuditError:
            self._rollback(connection)
            raise
        except Exception as exc:
            error = translate(exc)
            if isinstance(error, StoreUnavailable) and not isinstance(error, StoreBusy):
                # The connection itself may be what failed.
                self._discard(connection)
                if reused and retry and not sealed:
                    # A kept connection the server closed meanwhile: nothing was sealed or
                    # written, so the append may start again on a fresh one.
                    raise _Retry from exc
            else:
                self._rollback(connection)
            raise error from exc

    def _connect(self) -> Any:
        try:
            connection = self._engine.raw_connection()
            # Out of the pool for good: no one else ever gets it with the writer's settings.
            connection.detach()
        except Exception as exc:
            raise translate(exc) from exc
        if self._postgresql:
            # Transactions are begun and ended by the statements the writer sends.
            try:
                driver: Any = connection.dbapi_connection
                driver.autocommit = True
            except Exception as exc:
                _discard(connection)
                raise translate(exc) from exc
        self._connection = connection
        self._busy_ms = SQLITE_BUSY_TIMEOUT_MS
        # A store dropped without `close` (or whose engine was only disposed) still closes
        # the connection it no longer uses.
        weakref.finalize(self, _close_quietly, connection)
        return connection

    def _transaction(self, driver: Any, seal: Seal[T], deadline: float | None) -> T:
        cursor = driver.cursor()
        try:
            if self._postgresql:
                return self._postgresql_transaction(cursor, seal, deadline)
            return self._sqlite_transaction(cursor, seal, deadline)
        finally:
            cursor.close()

    def _sqlite_transaction(self, cursor: Any, seal: Seal[T], deadline: float | None) -> T:
        wanted = SQLITE_BUSY_TIMEOUT_MS if deadline is None else _busy_milliseconds(deadline)
        if wanted != self._busy_ms:
            cursor.execute(f"PRAGMA busy_timeout = {wanted}")
            self._busy_ms = wanted
        cursor.execute("BEGIN IMMEDIATE")
        cursor.execute(_HEAD)
        head = cursor.fetchone()
        _check_in_time(deadline)
        rows, result = seal(0, GENESIS_HASH) if head is None else seal(int(head[0]), str(head[1]))
        _insert_sqlite(cursor, rows)
        cursor.execute("COMMIT")
        return result

    def _postgresql_transaction(self, cursor: Any, seal: Seal[T], deadline: float | None) -> T:
        # One round trip: simple-query statements, the last one's rows are the head.
        timeout = ""
        if deadline is not None:
            timeout = f"SET LOCAL lock_timeout = {_milliseconds(deadline)}; "
        cursor.execute(
            f"BEGIN; {timeout}SELECT pg_advisory_xact_lock({int(CHAIN_LOCK_KEY)}); {_HEAD}"
        )
        while cursor.nextset():
            pass
        head = cursor.fetchone()
        _check_in_time(deadline)
        rows, result = seal(0, GENESIS_HASH) if head is None else seal(int(head[0]), str(head[1]))
        if len(rows) <= _PG_INSERT_ROWS:
            # The rows and the commit in one round trip, values bound by the driver.
            statement = f"INSERT INTO audit_events ({COLUMNS}) VALUES " + ", ".join(
                [_PG_ONE_ROW] * len(rows)
            )
            flat = tuple(value for row in rows for value in row)
            cursor.execute(_client_bound(cursor, statement, flat) + "; COMMIT")
        else:
            with cursor.copy(f"COPY audit_events ({COLUMNS}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            cursor.execute("COMMIT")
        return result

    def _rollback(self, connection: Any) -> None:
        driver = connection.dbapi_connection
        try:
            if self._postgresql:
                if driver.info.transaction_status != 0:  # not idle
                    driver.execute("ROLLBACK")
            elif driver.in_transaction:
                driver.execute("ROLLBACK")
        except Exception:  # a connection that cannot roll back is of no further use
            self._discard(connection)

    def _discard(self, connection: Any) -> None:
        if connection is self._connection:
            self._connection = None
        _discard(connection)

    @contextlib.contextmanager
    def _locked_file(self, deadline: float | None) -> Iterator[None]:
        descriptor = self._lock_file_descriptor()
        if descriptor is None:
            # No lock file (PostgreSQL, memory) or one that cannot be opened: the database's
            # own lock still keeps one chain, only the wake-ups are slower.
            yield
            return
        _lock_exclusively(descriptor, deadline)
        try:
            yield
        finally:
            fcntl.flock(descriptor, fcntl.LOCK_UN)

    def _lock_file_descriptor(self) -> int | None:
        if self._lock_path is None:
            return None
        if self._lock_descriptor is not None and self._lock_pid == os.getpid():
            return self._lock_descriptor
        try:
            descriptor = os.open(self._lock_path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return None
        self._lock_descriptor, self._lock_pid = descriptor, os.getpid()
        return descriptor


def _check_in_time(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        # Whatever made this late (a reconnect, a slow lock), the caller has given up by
        # now: what it was told must stay true.
        raise StoreBusy("the audit store is busy: the write lock came too late")


def _busy_milliseconds(deadline: float) -> int:
    """SQLite's busy timeout for a wait that must end by `deadline`: never past it."""
    remaining = _milliseconds(deadline)
    if remaining <= _BUSY_STEP_MS:
        return remaining
    return remaining - remaining % _BUSY_STEP_MS


def _client_bound(cursor: Any, statement: str, values: Sequence[Any]) -> str:
    """`statement` with `values` quoted in by psycopg's own client-side binding."""
    from psycopg import ClientCursor

    with ClientCursor(cursor.connection) as client:
        return client.mogrify(statement, values)


def _lock_file(engine: Engine) -> str | None:
    """The lock file of a SQLite database file (`<database>-writer-lock`), else None."""
    database = engine.url.database
    if engine.dialect.name != "sqlite" or not database or database == ":memory:":
        return None
    if database.startswith("file:"):
        return None
    return f"{database}-writer-lock"


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


def _close_quietly(connection: Any) -> None:
    with contextlib.suppress(Exception):
        connection.close()


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
