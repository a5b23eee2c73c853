"""The chain writer on a SQLite file: writers of every process queue on its lock file."""

from __future__ import annotations

import fcntl
import os
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text

from gatekeeper.audit import migrate
from gatekeeper.audit.batching import BatchedAppender
from gatekeeper.audit.database import CHAIN_LOCK_KEY, create_database_engine
from gatekeeper.audit.errors import StoreBusy
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.store import AuditStore

pytestmark = pytest.mark.integration


def test_an_append_waits_while_another_process_holds_the_lock_file(tmp_path: Path) -> None:
    database = tmp_path / "audit.db"
    engine = create_database_engine(f"sqlite:///{database}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    try:
        store.append(NewEvent(kind="sync.applied", actor="first"))
        lock_file = Path(f"{database}-writer-lock")
        assert lock_file.exists()

        # flock locks belong to an open file, so a second open file stands for a second process.
        holder = os.open(lock_file, os.O_RDWR)
        fcntl.flock(holder, fcntl.LOCK_EX)
        done = threading.Event()
        worker = threading.Thread(
            target=lambda: (store.append(NewEvent(kind="sync.applied", actor="second")), done.set())
        )
        worker.start()
        try:
            assert not done.wait(0.5), "the append did not wait for the lock file"
            assert store.count() == 1
        finally:
            os.close(holder)
        worker.join(10)
        assert done.is_set()
        assert [r.actor for r in store.query().records] == ["first", "second"]
    finally:
        store.close()


def test_a_lock_file_that_cannot_be_opened_does_not_stop_appends(tmp_path: Path) -> None:
    database = tmp_path / "audit.db"
    engine = create_database_engine(f"sqlite:///{database}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    lock_file = Path(f"{database}-writer-lock")
    # A directory where the lock file should be: it cannot be opened, SQLite's lock suffices.
    lock_file.mkdir()
    try:
        record = store.append(NewEvent(kind="sync.applied", actor="a"))
        assert store.get(record.seq) == record
    finally:
        store.close()


def test_an_append_with_a_timeout_gives_up_while_the_lock_is_held_and_writes_nothing(
    tmp_path: Path,
) -> None:
    database = tmp_path / "audit.db"
    engine = create_database_engine(f"sqlite:///{database}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    try:
        store.append(NewEvent(kind="sync.applied", actor="first"))
        holder = os.open(f"{database}-writer-lock", os.O_RDWR)
        fcntl.flock(holder, fcntl.LOCK_EX)
        try:
            started = time.monotonic()
            with pytest.raises(StoreBusy, match="busy"):
                store.append_prepared(
                    [store.prepare(NewEvent(kind="sync.applied", actor="late"))], timeout=0.3
                )
            assert 0.25 < time.monotonic() - started < 2
        finally:
            os.close(holder)
        assert [r.actor for r in store.query().records] == ["first"]
    finally:
        store.close()


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


def test_a_queued_event_whose_batch_never_started_is_withdrawn(tmp_path: Path) -> None:
    database = tmp_path / "audit.db"
    engine = create_database_engine(f"sqlite:///{database}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    holder = os.open(f"{database}-writer-lock", os.O_RDWR | os.O_CREAT)
    try:
        with BatchedAppender(store, max_delay=0) as appender:
            fcntl.flock(holder, fcntl.LOCK_EX)
            # The committer takes this one and waits for the lock file.
            first = appender.submit(NewEvent(kind="admission.allowed", actor="first"))
            time.sleep(0.2)
            with pytest.raises(StoreBusy, match="withdrawn"):
                appender.append(NewEvent(kind="admission.allowed", actor="second"), timeout=0.3)
            fcntl.flock(holder, fcntl.LOCK_UN)
            assert first.result(10).seq == 1
        # The withdrawn record never lands, so the log never says what was not answered.
        assert [r.actor for r in store.query().records] == ["first"]
    finally:
        os.close(holder)
        store.close()


def test_closing_the_appender_waits_for_a_caller_committing_itself(tmp_path: Path) -> None:
    database = tmp_path / "audit.db"
    engine = create_database_engine(f"sqlite:///{database}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    holder = os.open(f"{database}-writer-lock", os.O_RDWR | os.O_CREAT)
    fcntl.flock(holder, fcntl.LOCK_EX)
    appender = BatchedAppender(store, max_delay=0)
    caller = threading.Thread(
        target=appender.append, args=(NewEvent(kind="admission.allowed", actor="inline"),)
    )
    caller.start()
    time.sleep(0.2)  # the caller holds the appender's commit turn and waits for the file
    threading.Timer(0.3, lambda: fcntl.flock(holder, fcntl.LOCK_UN)).start()
    try:
        started = time.monotonic()
        appender.close()
        waited = time.monotonic() - started
        # close() returned only after the inline commit, so the store can be closed safely.
        assert waited > 0.2
        assert [r.actor for r in store.query().records] == ["inline"]
    finally:
        caller.join(10)
        os.close(holder)
        store.close()


def test_a_caller_can_withdraw_until_its_batch_holds_the_lock(tmp_path: Path) -> None:
    database = tmp_path / "audit.db"
    engine = create_database_engine(f"sqlite:///{database}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    holder = os.open(f"{database}-writer-lock", os.O_RDWR | os.O_CREAT)
    try:
        with BatchedAppender(store, max_delay=0) as appender:
            fcntl.flock(holder, fcntl.LOCK_EX)
            waiting = appender.submit(NewEvent(kind="admission.allowed", actor="gave-up"))
            time.sleep(0.2)  # its batch has started and waits for the lock file
            assert waiting.cancel(), "a batch waiting for the lock must not pin its events"
            kept = appender.submit(NewEvent(kind="admission.allowed", actor="kept"))
            fcntl.flock(holder, fcntl.LOCK_UN)
            assert kept.result(10).actor == "kept"
        assert [r.actor for r in store.query().records] == ["kept"]
    finally:
        os.close(holder)
        store.close()


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
