"""Concurrent writers, threads and processes, leave one valid chain without gaps."""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import Engine

from gatekeeper.audit.batching import BatchedAppender
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.errors import AuditError, StoreUnavailable
from gatekeeper.audit.events import NewEvent, Record
from gatekeeper.audit.store import AuditStore, PreparedEvent
from gatekeeper.audit.verify import verify_store

pytestmark = [pytest.mark.integration, pytest.mark.slow]

PROCESSES = 4
PER_PROCESS = 60


def _append_from_a_process(url: str, worker: int) -> None:
    engine = create_database_engine(url)
    store = AuditStore(engine)
    for i in range(PER_PROCESS):
        if i % 3 == 0:
            store.append_many(
                [
                    NewEvent(kind="sync.applied", actor=f"w{worker}", payload={"i": i, "j": j})
                    for j in range(2)
                ]
            )
        else:
            store.append(NewEvent(kind="sync.applied", actor=f"w{worker}", payload={"i": i}))
    engine.dispose()


def expected_count() -> int:
    batches = len(range(0, PER_PROCESS, 3))
    return PROCESSES * (PER_PROCESS - batches + 2 * batches)


def test_several_processes_appending_at_once_leave_one_gap_free_chain(
    migrated_engine: Engine, database_url: str
) -> None:
    context = multiprocessing.get_context("spawn")
    workers = [
        context.Process(target=_append_from_a_process, args=(database_url, n))
        for n in range(PROCESSES)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
        assert worker.exitcode == 0
    store = AuditStore(migrated_engine)
    report = verify_store(store, None)
    assert report.ok, report.findings
    assert report.records == report.head_seq == expected_count()
    actors = {r.actor for r in store.query(limit=10_000).records}
    assert actors == {f"w{n}" for n in range(PROCESSES)}


def test_threads_sharing_one_store_never_fork_the_chain(store: AuditStore) -> None:
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(
            pool.map(
                lambda i: store.append(NewEvent(kind="sync.applied", actor=f"t{i % 8}")),
                range(200),
            )
        )
    report = verify_store(store, None)
    assert report.ok
    assert report.records == 200


# With a delay, batches wait for company; without one (group commit), callers commit
# themselves when the appender is idle and join the next batch when it is not.
@pytest.mark.parametrize(("max_delay", "count"), [(0.002, 1000), (0, 600)])
def test_the_batched_appender_commits_every_record_from_many_threads_once(
    store: AuditStore, max_delay: float, count: int
) -> None:
    with (
        BatchedAppender(store, max_delay=max_delay, max_size=64) as appender,
        ThreadPoolExecutor(max_workers=16) as pool,
    ):
        records = list(
            pool.map(
                lambda i: appender.append(
                    NewEvent(kind="admission.allowed", actor="api", payload={"i": i})
                ),
                range(count),
            )
        )
    assert sorted(r.seq for r in records) == list(range(1, count + 1))
    assert sorted(r.payload["i"] for r in records) == list(range(count))
    report = verify_store(store, None)
    assert report.ok and report.records == count


def test_an_acknowledged_batched_record_is_already_committed(
    store: AuditStore, database_url: str
) -> None:
    other = create_database_engine(database_url)
    try:
        with BatchedAppender(store, max_delay=0.05) as appender:
            record = appender.append(NewEvent(kind="admission.denied", actor="alice"))
            assert AuditStore(other).get(record.seq) == record
    finally:
        other.dispose()


def test_asyncio_callers_get_committed_records(store: AuditStore) -> None:
    import asyncio

    async def scenario(appender: BatchedAppender) -> list[int]:
        records = await asyncio.gather(
            *(
                appender.append_async(NewEvent(kind="admission.allowed", actor="a"))
                for _ in range(50)
            )
        )
        return sorted(r.seq for r in records)

    with BatchedAppender(store) as appender:
        assert asyncio.run(scenario(appender)) == list(range(1, 51))


def test_a_failed_commit_fails_every_waiting_caller_and_records_nothing(
    migrated_engine: Engine,
) -> None:
    from gatekeeper.audit import migrate

    store = AuditStore(migrated_engine)
    migrate.downgrade(migrated_engine, "base")
    with BatchedAppender(store, max_delay=0.01) as appender:
        futures = [appender.submit(NewEvent(kind="admission.allowed", actor="a")) for _ in range(5)]
        for future in futures:
            with pytest.raises(AuditError, match="db upgrade"):
                future.result(10)
    migrate.upgrade(migrated_engine)
    assert store.count() == 0


def test_a_bad_event_fails_only_its_own_caller(store: AuditStore) -> None:
    with BatchedAppender(store) as appender:
        good = appender.submit(NewEvent(kind="admission.allowed", actor="a"))
        with pytest.raises(AuditError, match="dotted lower-case"):
            appender.submit(NewEvent(kind="NOT A KIND", actor="a"))
        assert good.result(10).seq == 1


def test_a_closed_appender_refuses_new_events(store: AuditStore) -> None:
    appender = BatchedAppender(store)
    queued = appender.submit(NewEvent(kind="admission.allowed", actor="a"))
    appender.close()
    assert queued.result(1).seq == 1
    with pytest.raises(StoreUnavailable, match="closed"):
        appender.submit(NewEvent(kind="admission.allowed", actor="a"))


class _ThreadNotingStore(AuditStore):
    """The real store, noting which thread committed each batch."""

    def __init__(self, engine: Engine) -> None:
        super().__init__(engine)
        self.committed_by: list[str] = []

    def append_prepared(
        self, prepared: Sequence[PreparedEvent], *, timeout: float | None = None
    ) -> list[Record]:
        self.committed_by.append(threading.current_thread().name)
        return super().append_prepared(prepared, timeout=timeout)


def test_a_lone_event_is_committed_by_its_caller_when_there_is_no_delay(
    migrated_engine: Engine, database_url: str
) -> None:
    store = _ThreadNotingStore(migrated_engine)
    other = create_database_engine(database_url)
    try:
        with BatchedAppender(store, max_delay=0) as appender:
            record = appender.append(NewEvent(kind="admission.denied", actor="alice"))
            assert AuditStore(other).get(record.seq) == record
            queued = appender.submit(NewEvent(kind="admission.allowed", actor="bob"))
            assert queued.result(10).seq == record.seq + 1
    finally:
        other.dispose()
    assert store.committed_by == [threading.current_thread().name, "audit-batcher"]


def test_a_closed_appender_refuses_events_it_would_commit_itself(store: AuditStore) -> None:
    appender = BatchedAppender(store, max_delay=0)
    appender.close()
    with pytest.raises(StoreUnavailable, match="closed"):
        appender.append(NewEvent(kind="admission.allowed", actor="a"))
    assert store.count() == 0


@pytest.mark.parametrize("options", [{"max_delay": -0.001}, {"max_size": 0}])
def test_an_appender_with_a_negative_delay_or_no_room_is_refused(
    store: AuditStore, options: dict[str, float]
) -> None:
    with pytest.raises(AuditError, match="max_delay must not be negative"):
        BatchedAppender(store, **options)  # type: ignore[arg-type]
