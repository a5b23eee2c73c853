"""The chain writer on a SQLite file: writers of every process queue on its lock file."""

from __future__ import annotations

import fcntl
import os
import threading
from pathlib import Path

import pytest

from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
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
