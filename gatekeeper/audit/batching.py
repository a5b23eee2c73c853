"""The batched appender: many callers, one committer thread, no acknowledgement before commit."""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
import time
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass

from gatekeeper.audit.errors import AuditError, StoreBusy, StoreUnavailable
from gatekeeper.audit.events import NewEvent, Record
from gatekeeper.audit.store import AuditStore, PreparedEvent


@dataclass(frozen=True)
class _Item:
    event: PreparedEvent
    future: Future[Record]


_STOP = object()


class BatchedAppender:
    """Collects events from any thread and commits them in batches (group commit).

    A committer thread takes the first waiting event, then the others that arrive within
    `max_delay` seconds, up to `max_size`, and commits them in one transaction. With
    `max_delay=0` it takes only what is already waiting: no event waits for company, and
    batches form by themselves while a commit is under way. Each caller learns of its record
    only after its batch has committed; if the commit fails, every caller of the batch gets
    the error and nothing of that batch is in the log.
    """

    def __init__(
        self,
        store: AuditStore,
        *,
        max_delay: float = 0.005,
        max_size: int = 512,
        lock_wait: float | None = None,
    ):
        """`lock_wait` bounds how long a batch waits for the write lock (None: no bound);
        a batch that gets no turn fails with `StoreBusy` and none of it is written."""
        if max_delay < 0 or max_size < 1:
            raise AuditError("max_delay must not be negative and max_size must be at least 1")
        self._store = store
        self._max_delay = max_delay
        self._max_size = max_size
        self._lock_wait = lock_wait
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._closed = False
        # Events queued and not yet committed (or failed); guarded by `_lock`.
        self._pending = 0
        self._lock = threading.Lock()
        # Held by whoever is committing: the committer thread, or a caller of `append`.
        self._committing = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="audit-batcher", daemon=True)
        self._thread.start()

    def submit(self, event: NewEvent) -> Future[Record]:
        """Queue one event; the future gives its record once committed.

        The event is checked and serialised here, in the caller's thread, so a bad event
        fails its own caller at once and never the batch it would have joined.
        """
        return self._enqueue(self._store.prepare(event))

    def _enqueue(self, prepared: PreparedEvent) -> Future[Record]:
        future: Future[Record] = Future()
        with self._lock:
            if self._closed:
                raise StoreUnavailable("the audit appender is closed")
            self._pending += 1
            self._queue.put(_Item(prepared, future))
        return future

    def append(
        self, event: NewEvent, timeout: float | None = 30.0, *, settle: float = 1.0
    ) -> Record:
        """Record one event and wait until it is committed; `StoreUnavailable` otherwise.

        When nothing is queued and no commit is under way, the caller's thread commits the
        event itself: a lone event then costs one commit and no hand-over between threads.
        Otherwise it joins the next batch. Either way, `timeout` bounds the wait: for the
        locks when committing itself (`StoreBusy`, nothing written), for the batch otherwise.
        A queued event whose batch has not started by then is withdrawn; one whose batch is
        being committed is waited for up to `settle` seconds more, since its record may land.
        """
        prepared = self._store.prepare(event)
        if self._max_delay == 0 and self._pending == 0 and self._committing.acquire(False):
            try:
                if self._closed:
                    raise StoreUnavailable("the audit appender is closed")
                return self._store.append_prepared([prepared], timeout=timeout)[0]
            finally:
                self._committing.release()
        future = self._enqueue(prepared)
        try:
            return future.result(timeout)
        except FutureTimeout:
            if future.cancel():
                raise StoreBusy(
                    f"the audit store is busy: no commit within {timeout:g} s; "
                    "the record was withdrawn"
                ) from None
        try:
            return future.result(settle)
        except FutureTimeout:
            raise StoreUnavailable(
                f"the audit store did not finish a commit within {(timeout or 0) + settle:g} s; "
                "the record may still land"
            ) from None

    async def append_async(self, event: NewEvent) -> Record:
        """The same for asyncio callers, without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(event))

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the committer thread; returns once no caller
        is committing either."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)
        if self._committing.acquire(timeout=timeout):
            self._committing.release()

    def __enter__(self) -> BatchedAppender:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def _run(self) -> None:
        stopping = False
        while not stopping:
            first = self._queue.get()
            if first is _STOP:
                return
            assert isinstance(first, _Item)
            with self._committing:
                batch, stopping = self._gather(first)
                self._commit(batch)
        self._drain()

    def _gather(self, first: _Item) -> tuple[list[_Item], bool]:
        """The batch that starts with `first`, and whether a stop request was met."""
        batch = [first]
        deadline = time.monotonic() + self._max_delay
        while len(batch) < self._max_size:
            remaining = deadline - time.monotonic()
            try:
                item = (
                    self._queue.get(timeout=remaining)
                    if remaining > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                break
            if item is _STOP:
                return batch, True
            assert isinstance(item, _Item)
            batch.append(item)
        return batch, False

    def _drain(self) -> None:
        leftover: list[_Item] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            if isinstance(item, _Item):
                leftover.append(item)
        for start in range(0, len(leftover), self._max_size):
            self._commit(leftover[start : start + self._max_size])

    def _commit(self, batch: list[_Item]) -> None:
        try:
            self._commit_batch(batch)
        finally:
            with self._lock:
                self._pending -= len(batch)

    def _commit_batch(self, batch: list[_Item]) -> None:
        live: list[_Item] = []

        def still_wanted() -> list[PreparedEvent]:
            # Called with the write lock held: a caller that gave up while the lock was
            # awaited has withdrawn its event, and from here on no one can.
            live.extend(item for item in batch if item.future.set_running_or_notify_cancel())
            return [item.event for item in live]

        try:
            records = self._store.append_prepared(still_wanted, timeout=self._lock_wait)
        except Exception as exc:  # every failure must reach the waiting callers
            error = exc if isinstance(exc, AuditError) else StoreUnavailable(str(exc))
            for item in batch:
                with contextlib.suppress(InvalidStateError):  # withdrawn by its caller
                    item.future.set_exception(error)
            return
        for item, record in zip(live, records, strict=True):
            item.future.set_result(record)
