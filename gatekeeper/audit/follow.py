"""Following the log: a thread that hands each newly committed record to a consumer, in
order, moving a durable cursor as it goes, and tries again with backoff when it fails.

Writers never wait for it: it only reads committed records, a page at a time, so what it
holds in memory is bounded by the page and a consumer that is slow or down only makes it
fall behind. Only what the log holds is ever handed on, and a restart resumes after the
last record the cursor says was dealt with.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from gatekeeper.audit.cursors import Cursors
from gatekeeper.audit.errors import AuditError
from gatekeeper.audit.events import Record
from gatekeeper.audit.store import AuditStore

log = logging.getLogger(__name__)

Done = Callable[[int], None]


class CursorMoved(AuditError):
    """Another process moved the cursor: it delivers now, this one stands back."""


class Consumer(Protocol):
    """Where followed records go."""

    def wants(self, record: Record) -> bool:
        """True for the records this consumer deals with; the others are passed over."""
        ...

    def consume(self, records: Sequence[Record], done: Done) -> None:
        """Deal with `records` (in sequence order), calling `done(seq)` once everything up
        to `seq` is dealt with; raise to have the rest handed over again later."""
        ...


@dataclass(frozen=True)
class Backoff:
    """Exponential backoff with jitter: initial, doubled each failure, capped at `longest`."""

    initial: float = 1.0
    longest: float = 60.0
    jitter: float = 0.2

    def delay(self, failures: int) -> float:
        base = min(self.longest, self.initial * 2.0 ** max(0, failures - 1))
        return float(base) * (1 - self.jitter + 2 * self.jitter * random.random())  # noqa: S311


class LogFollower:
    """One consumer's walk along the log, from its cursor `name`."""

    def __init__(
        self,
        store: AuditStore,
        *,
        name: str,
        consumer: Consumer,
        interval: float = 1.0,
        backoff: Backoff | None = None,
        active: Callable[[], bool] = lambda: True,
        page: int = 200,
    ) -> None:
        self.name = name
        self._store = store
        self._cursors = Cursors(store)
        self._consumer = consumer
        self._interval = interval
        self._backoff = backoff or Backoff()
        self._active = active
        self._page = page
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.failures = 0

    # -- one step ------------------------------------------------------------------------------

    def position(self) -> int:
        """The last record dealt with. A new cursor starts at the head: a follower added to
        a long log begins with what happens next, not with its whole history."""
        found = self._cursors.get(self.name)
        if found is not None:
            return found
        head, _ = self._store.head()
        return self._cursors.start(self.name, head)

    def step(self) -> int:
        """Hand over one page of new records; how many records were read (0: caught up)."""
        position = self.position()
        page = self._store.query(after=position, limit=self._page)
        if not page.records:
            return 0
        wanted = [record for record in page.records if self._consumer.wants(record)]
        at = position

        def done(seq: int) -> None:
            nonlocal at
            if seq <= at:
                return
            if not self._cursors.advance(self.name, frm=at, to=seq):
                raise CursorMoved(f"cursor {self.name} was moved by another process")
            at = seq

        if wanted:
            self._consumer.consume(wanted, done)
        done(page.records[-1].seq)
        return len(page.records)

    def drain(self, timeout: float) -> bool:
        """Deliver, on this thread, up to the head as it is now; True when it got there
        within `timeout` seconds (failures are tried again with backoff until then)."""
        target, _ = self._store.head()
        deadline = time.monotonic() + timeout
        failures = 0
        while True:
            try:
                if self.position() >= target:
                    return True
                self.step()
                failures = 0
                continue
            except Exception as exc:  # any failure of a consumer is tried again
                failures += 1
                log.warning("%s: delivery failed, trying again: %s", self.name, exc)
            pause = self._backoff.delay(failures)
            if time.monotonic() + pause > deadline:
                return False
            time.sleep(pause)

    # -- the thread ----------------------------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(
                target=self._run, name=f"follow-{self.name}", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            pause = self._interval
            if self._active():
                try:
                    while self.step() and not self._stop.is_set() and self._active():
                        pass
                    self.failures = 0
                except CursorMoved as exc:
                    log.info("%s", exc)
                except Exception as exc:  # a failed delivery must not end the following
                    self.failures += 1
                    pause = self._backoff.delay(self.failures)
                    log.warning(
                        "%s: delivery failed (%d in a row), next try in %.1f s: %s",
                        self.name,
                        self.failures,
                        pause,
                        exc,
                    )
            self._stop.wait(pause)
