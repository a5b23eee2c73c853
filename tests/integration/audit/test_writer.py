"""The chain writer on a SQLite file: writers of every process queue on its lock file."""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import text

from gatekeeper.audit import migrate
from gatekeeper.audit.batching import BatchedAppender
from gatekeeper.audit.database import CHAIN_LOCK_KEY, create_database_engine
from gatekeeper.audit.errors import AuditError, StoreBusy
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.store import AuditStore

pytestmark = pytest.mark.integration


@pytest.fixture
def file_store(tmp_path: Path) -> Iterator[AuditStore]:
    """A migrated store on `tmp_path/audit.db`; its lock file is `lock_file`."""
    engine = create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    yield store
    store.close()


@pytest.fixture
def lock_file(tmp_path: Path) -> Path:
    return tmp_path / "audit.db-writer-lock"


@contextmanager
def _held(lock_file: Path) -> Iterator[int]:
    """The lock file held as another process would hold it: flock locks belong to an open
    file, so a second open file stands for a second process. Unlock early with LOCK_UN."""
    holder = os.open(lock_file, os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        yield holder
    finally:
        os.close(holder)


def test_an_append_waits_while_another_process_holds_the_lock_file(
    file_store: AuditStore, lock_file: Path
) -> None:
    store = file_store
    store.append(NewEvent(kind="sync.applied", actor="first"))
    assert lock_file.exists()

    done = threading.Event()
    worker = threading.Thread(
        target=lambda: (store.append(NewEvent(kind="sync.applied", actor="second")), done.set())
    )
    with _held(lock_file):
        worker.start()
        assert not done.wait(0.5), "the append did not wait for the lock file"
        assert store.count() == 1
    worker.join(10)
    assert done.is_set()
    assert [r.actor for r in store.query().records] == ["first", "second"]


def test_a_lock_file_that_cannot_be_opened_does_not_stop_appends(
    file_store: AuditStore, lock_file: Path
) -> None:
    # A directory where the lock file should be: it cannot be opened, SQLite's lock suffices.
    lock_file.mkdir()
    record = file_store.append(NewEvent(kind="sync.applied", actor="a"))
    assert file_store.get(record.seq) == record


def test_an_append_with_a_timeout_gives_up_while_the_lock_is_held_and_writes_nothing(
    file_store: AuditStore, lock_file: Path
) -> None:
    store = file_store
    store.append(NewEvent(kind="sync.applied", actor="first"))
    with _held(lock_file):
        started = time.monotonic()
        with pytest.raises(StoreBusy, match="busy"):
            store.append_prepared(
                [store.prepare(NewEvent(kind="sync.applied", actor="late"))], timeout=0.3
            )
        assert 0.25 < time.monotonic() - started < 2
    assert [r.actor for r in store.query().records] == ["first"]


def test_postgresql_gives_up_on_the_chain_lock_after_the_timeout(postgres_url: str) -> None:
    engine = create_database_engine(postgres_url)
    migrate.upgrade(engine)
    store = AuditStore(engine)
    other = create_database_engine(postgres_url)
    try:
        with other.connect() as holder:
            holder.execute(text("SELECT pg_advisory_lock(:key)"), {"key": CHAIN_LOCK_KEY})
            with pytest.raises(StoreBusy, match="lock timeout"):
                store.append_prepared(
                    [store.prepare(NewEvent(kind="sync.applied", actor="late"))], timeout=0.3
                )
            holder.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": CHAIN_LOCK_KEY})
        assert store.count() == 0
        assert store.append(NewEvent(kind="sync.applied", actor="after")).seq == 1
    finally:
        other.dispose()
        store.close()


def test_a_queued_event_whose_batch_never_started_is_withdrawn(
    file_store: AuditStore, lock_file: Path
) -> None:
    with BatchedAppender(file_store, max_delay=0) as appender, _held(lock_file) as holder:
        # The committer takes this one and waits for the lock file.
        first = appender.submit(NewEvent(kind="admission.allowed", actor="first"))
        time.sleep(0.2)
        with pytest.raises(StoreBusy, match="withdrawn"):
            appender.append(NewEvent(kind="admission.allowed", actor="second"), timeout=0.3)
        fcntl.flock(holder, fcntl.LOCK_UN)
        assert first.result(10).seq == 1
    # The withdrawn record never lands, so the log never says what was not answered.
    assert [r.actor for r in file_store.query().records] == ["first"]


def test_closing_the_appender_waits_for_a_caller_committing_itself(
    file_store: AuditStore, lock_file: Path
) -> None:
    appender = BatchedAppender(file_store, max_delay=0)
    caller = threading.Thread(
        target=appender.append, args=(NewEvent(kind="admission.allowed", actor="inline"),)
    )
    with _held(lock_file) as holder:
        caller.start()
        time.sleep(0.2)  # the caller holds the appender's commit turn and waits for the file
        threading.Timer(0.3, lambda: fcntl.flock(holder, fcntl.LOCK_UN)).start()
        try:
            started = time.monotonic()
            appender.close()
            waited = time.monotonic() - started
        finally:
            caller.join(10)
    # close() returned only after the inline commit, so the store can be closed safely.
    assert waited > 0.2
    assert [r.actor for r in file_store.query().records] == ["inline"]


def test_a_caller_can_withdraw_until_its_batch_holds_the_lock(
    file_store: AuditStore, lock_file: Path
) -> None:
    with BatchedAppender(file_store, max_delay=0) as appender, _held(lock_file) as holder:
        waiting = appender.submit(NewEvent(kind="admission.allowed", actor="gave-up"))
        time.sleep(0.2)  # its batch has started and waits for the lock file
        assert waiting.cancel(), "a batch waiting for the lock must not pin its events"
        kept = appender.submit(NewEvent(kind="admission.allowed", actor="kept"))
        fcntl.flock(holder, fcntl.LOCK_UN)
        assert kept.result(10).actor == "kept"
    assert [r.actor for r in file_store.query().records] == ["kept"]


def test_a_write_lock_that_comes_after_the_deadline_writes_nothing(postgres_url: str) -> None:
    engine = create_database_engine(postgres_url, pool_size=1)  # at most two connections
    migrate.upgrade(engine)
    store = AuditStore(engine)
    try:
        busy = [engine.connect(), engine.connect()]
        threading.Timer(1.0, lambda: [connection.close() for connection in busy]).start()
        started = time.monotonic()
        with pytest.raises(StoreBusy, match="came too late"):
            # The pool has no connection for a second; the deadline is 0.3 s.
            store.append_prepared(
                [store.prepare(NewEvent(kind="sync.applied", actor="late"))], timeout=0.3
            )
        assert time.monotonic() - started >= 0.9
        assert store.count() == 0
    finally:
        store.close()


def test_after_a_bounded_wait_gave_up_an_unbounded_append_waits_for_the_database_lock(
    file_store: AuditStore, tmp_path: Path
) -> None:
    """The writer keeps its connection and its busy timeout between appends: the short wait
    of a bounded append must not carry over to the next, unbounded one."""
    store = file_store
    store.append(NewEvent(kind="sync.applied", actor="first"))
    other = sqlite3.connect(tmp_path / "audit.db", isolation_level=None, check_same_thread=False)
    release = threading.Timer(1.0, lambda: other.execute("ROLLBACK"))
    try:
        other.execute("BEGIN IMMEDIATE")  # SQLite's write lock, without the lock file
        with pytest.raises(StoreBusy):
            store.append_prepared(
                [store.prepare(NewEvent(kind="sync.applied", actor="late"))], timeout=0.3
            )
        release.start()
        record = store.append(NewEvent(kind="sync.applied", actor="patient"))
    finally:
        release.cancel()
        release.join()
        other.close()
    assert record.seq == 2
    assert [r.actor for r in store.query().records] == ["first", "patient"]


def test_postgresql_appends_go_on_after_the_server_closed_the_writers_connection(
    postgres_url: str,
) -> None:
    engine = create_database_engine(postgres_url)
    migrate.upgrade(engine)
    store = AuditStore(engine)
    try:
        first = store.append(NewEvent(kind="sync.applied", actor="first"))
        with engine.connect() as admin:
            ended = admin.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
        assert ended >= 1
        second = store.append(NewEvent(kind="sync.applied", actor="second"))
        assert (first.seq, second.seq) == (1, 2)
        assert second.prev_hash == first.hash
    finally:
        store.close()


def test_one_event_with_a_nul_fails_alone_not_its_batch(store: AuditStore) -> None:
    """A NUL in an admission request's user name is refused at submit, so the decisions
    queued beside it are all recorded (PostgreSQL would fail the whole batch's insert)."""
    with BatchedAppender(store, max_delay=0.05) as appender:
        good = [
            appender.submit(NewEvent(kind="admission.allowed", actor=f"user{i}", payload={}))
            for i in range(3)
        ]
        with pytest.raises(AuditError, match="NUL"):
            appender.submit(NewEvent(kind="admission.allowed", actor="evil\x00", payload={}))
        good += [
            appender.submit(NewEvent(kind="admission.allowed", actor=f"user{i}", payload={}))
            for i in range(3, 6)
        ]
        assert [future.result(10).actor for future in good] == [f"user{i}" for i in range(6)]
    assert store.count() == 6
