"""The batched appender: many callers, one committer thread, no acknowledgement before commit."""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass

from gatekeeper.audit.errors import AuditError, StoreUnavailable
from gatekeeper.audit.events import NewEvent, Record
from gatekeeper.audit.store import AuditStore, PreparedEvent


@dataclass(frozen=True)
class _Item:
    event: PreparedEvent
    future: Future[Record]


_STOP = object()


class BatchedAppender:
    """Collects events from any thread and commits them in batches.

    A batch is committed when `max_size` events wait or `max_delay` seconds have passed since
    the first of them arrived, whichever comes first. Each caller's future resolves only after
    its batch has committed; if the commit fails, every future of the batch fails with the
    error and nothing of that batch is in the log.
    """

    def __init__(self, store: AuditStore, *, max_delay: float = 0.005, max_size: int = 512):
        if max_delay <= 0 or max_size < 1:
            raise AuditError("max_delay must be positive and max_size at least 1")
        self._store = store
        self._max_delay = max_delay
        self._max_size = max_size
        self._queue: queue.SimpleQueue[_Item | object] = queue.SimpleQueue()
        self._closed = False
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="audit-batcher", daemon=True)
        self._thread.start()

    def submit(self, event: NewEvent) -> Future[Record]:
        """Queue one event; the future gives its record once committed.

        The event is checked and serialised here, in the caller's thread, so a bad event
        fails its own caller at once and never the batch it would have joined.
        """
        prepared = self._store.prepare(event)
        future: Future[Record] = Future()
        with self._lock:
            if self._closed:
                raise StoreUnavailable("the audit appender is closed")
            self._queue.put(_Item(prepared, future))
        return future

    def append(self, event: NewEvent, timeout: float | None = 30.0) -> Record:
        """Queue one event and wait until it is committed."""
        return self.submit(event).result(timeout)

    async def append_async(self, event: NewEvent) -> Record:
        """The same for asyncio callers, without blocking the event loop."""
        return await asyncio.wrap_future(self.submit(event))

    def close(self, timeout: float = 30.0) -> None:
        """Commit what is queued, then stop the committer thread."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._queue.put(_STOP)
        self._thread.join(timeout)

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
            batch = [first]
            deadline = time.monotonic() + self._max_delay
            while len(batch) < self._max_size:
                remaining = deadline - time.monotonic()
                try:
                    item = (
                        self._queue.get(timeout=max(remaining, 0.0))
                        if remaining > 0
                        else (self._queue.get_nowait())
                    )
                except queue.Empty:
                    break
                if item is _STOP:
                    stopping = True
                    break
                assert isinstance(item, _Item)
                batch.append(item)
            self._commit(batch)
        self._drain()

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
        live = [item for item in batch if item.future.set_running_or_notify_cancel()]
        if not live:
            return
        try:
            records = self._store.append_prepared([item.event for item in live])
        except Exception as exc:  # every failure must reach the waiting callers
            error = exc if isinstance(exc, AuditError) else StoreUnavailable(str(exc))
            for item in live:
                item.future.set_exception(error)
            return
        for item, record in zip(live, records, strict=True):
            item.future.set_result(record)
