"""The admission service: decides within a deadline, records, and answers one review."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from typing import Any, Protocol

from gatekeeper.admission import decision, wire
from gatekeeper.admission.errors import MalformedRequest
from gatekeeper.admission.metrics import AdmissionMetrics
from gatekeeper.admission.ports import LedgerPort, PolicyPort
from gatekeeper.admission.verdict import Verdict
from gatekeeper.audit.batching import BatchedAppender
from gatekeeper.audit.events import NewEvent, Record
from gatekeeper.policy.errors import EvaluationError
from gatekeeper.settings import AdmissionSettings

log = logging.getLogger(__name__)

# How long past the deadline the event loop still waits for a worker, so that a commit under
# way can finish and the answer agrees with the record. Waits for locks end at the deadline
# (nothing written then); only a commit that started and outlasts this is left in doubt.
GRACE = 0.5


class Recorder(Protocol):
    """Where decisions are recorded. Called from worker threads, never from the event loop."""

    def record(self, event: NewEvent, *, timeout: float) -> int:
        """Record `event`; its sequence number once committed. Raises if it is not, in time."""
        ...

    def record_later(self, event: NewEvent, *, on_failure: Callable[[str], None]) -> None:
        """Queue `event` for recording without waiting; `on_failure` hears if it is lost."""
        ...


class AppenderRecorder:
    """Records through the audit store's batched appender (acknowledged only after commit)."""

    def __init__(self, appender: BatchedAppender) -> None:
        self._appender = appender

    def record(self, event: NewEvent, *, timeout: float) -> int:
        return self._appender.append(event, timeout=timeout, settle=GRACE / 2).seq

    def record_later(self, event: NewEvent, *, on_failure: Callable[[str], None]) -> None:
        def settled(future: Future[Record]) -> None:
            if not future.cancelled() and future.exception() is not None:
                on_failure(str(future.exception()))

        self._appender.submit(event).add_done_callback(settled)


class _Claim:
    """Who records a request's decision: the worker that decided it, or, once the deadline
    has passed, the event loop (which then records the fallback answer instead)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owner: str | None = None
        self.verdict: Verdict | None = None

    def take(self, owner: str, verdict: Verdict | None = None) -> bool:
        """Claim the record for `owner`; false when the other side already has it."""
        with self._lock:
            if self._owner is None:
                self._owner, self.verdict = owner, verdict
            return self._owner == owner


_Job = tuple[asyncio.AbstractEventLoop, "asyncio.Future[Any]", Callable[[], Any]]
_STOP: Any = None


class _Deciders:
    """The worker threads decisions run on, each handing its result straight to the event
    loop's future. A `ThreadPoolExecutor` with `run_in_executor`, `shield` and `wait_for`
    costs two to three times as much CPU per review (its own future and conditions, a
    chained future, a task for the timeout): 60-90 µs against 15-30 µs on this project's
    machine.

    Threads start as work finds none idle, up to `size`, and live until `close`, which lets
    each drop its own policy engine on its own thread (regorus engines must not be freed
    from another) and cancels what was queued and not started.
    """

    def __init__(self, size: int, name: str) -> None:
        self._size = size
        self._name = name
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._lock = threading.Lock()
        self._closed = False

    def submit(
        self, loop: asyncio.AbstractEventLoop, work: Callable[[], Any]
    ) -> asyncio.Future[Any]:
        """Run `work` on a worker thread; the future (of `loop`) gets its result."""
        future: asyncio.Future[Any] = loop.create_future()
        with self._lock:
            if self._closed:
                raise RuntimeError("the admission service is closed")
            if self._idle > 0:
                self._idle -= 1
            elif len(self._threads) < self._size:
                thread = threading.Thread(
                    target=self._run, name=f"{self._name}_{len(self._threads)}", daemon=True
                )
                self._threads.append(thread)
                thread.start()
            self._jobs.put((loop, future, work))
        return future

    def close(self) -> None:
        with self._lock:
            self._closed = True
            threads = list(self._threads)
        while True:  # queued and not started: cancelled, as an executor's shutdown does
            try:
                job = self._jobs.get_nowait()
            except queue.Empty:
                break
            if job is not None:
                _deliver(job[0], job[1].cancel)
        for _ in threads:
            self._jobs.put(_STOP)
        for thread in threads:
            thread.join()

    def _run(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                return
            loop, future, work = job
            try:
                result = work()
            except BaseException as exc:  # handed to the awaiting side, as an executor does
                _deliver(loop, functools.partial(_set_exception, future, exc))
            else:
                _deliver(loop, functools.partial(_set_result, future, result))
            with self._lock:
                self._idle += 1


def _pass_on(first: asyncio.Future[Any], work: asyncio.Future[Any]) -> None:
    """`work`'s outcome to `first`, unless the deadline came first."""
    if first.done():
        return
    if work.cancelled():
        first.cancel()
    elif work.exception() is not None:
        first.set_exception(work.exception())  # type: ignore[arg-type]
    else:
        first.set_result(work.result())


def _deliver(loop: asyncio.AbstractEventLoop, callback: Callable[[], Any]) -> None:
    with contextlib.suppress(RuntimeError):  # the loop is closed: nobody is waiting
        loop.call_soon_threadsafe(callback)


def _set_result(future: asyncio.Future[Any], result: Any) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception(future: asyncio.Future[Any], error: BaseException) -> None:
    if not future.done():
        future.set_exception(error)


def _expire(future: asyncio.Future[Any]) -> None:
    if not future.done():
        future.set_result(_LATE)


_LATE: Any = object()


class AdmissionService:
    """Turns an AdmissionReview body into the AdmissionReview answer.

    One worker thread decides and records each request, so that the event loop hands work
    over once and gets the answer back once. A decision that runs past
    `admission.decisionTimeout` is answered by `decision.undecided` (isolated policies are cut
    off there too; any other late result is dropped); the same deadline bounds the wait for the
    audit store's locks, and `GRACE` the commit after them, so that the answer given is the
    one recorded. Only a body without a usable envelope raises (`BadReview`).
    """

    def __init__(
        self,
        *,
        settings: AdmissionSettings,
        ledger: LedgerPort,
        policies: PolicyPort,
        recorder: Recorder,
        metrics: AdmissionMetrics,
        workers: int = 8,
    ) -> None:
        self._settings = settings
        self._ledger = ledger
        self._policies = policies
        self._recorder = recorder
        self._metrics = metrics
        self._deciders = _Deciders(workers, "admission")

    def close(self) -> None:
        # Waiting lets each worker thread drop its own policy engine: native engines such as
        # regorus must not be freed from another thread.
        self._deciders.close()

    async def answer(self, body: bytes) -> wire.AdmissionReview:
        """The answer to one review body; raises `BadReview` only when there is no uid to
        answer. A malformed request is refused, and so is one whose handling fails."""
        started = time.perf_counter()
        try:
            request = wire.parse_review(body)
        except MalformedRequest as exc:
            self._metrics.bad_requests.labels(reason="malformed").inc()
            return wire.review_of(wire.refusal(exc.uid, str(exc)))
        try:
            return await self._answer(request, started)
        except Exception as exc:  # a failure of this code itself must not become a 500
            self._metrics.failures.labels(cause="error").inc()
            log.exception("admission request %s could not be answered", request["uid"])
            message = f"the webhook failed on this request ({type(exc).__name__}); refused"
            refused = wire.refusal(request["uid"], message, code=500, reason="InternalError")
            return wire.review_of(refused)

    async def _answer(self, request: wire.AdmissionRequest, started: float) -> wire.AdmissionReview:
        deadline = started + self._settings.decision_timeout
        claim = _Claim()
        loop = asyncio.get_running_loop()
        work = self._deciders.submit(
            loop, functools.partial(self._settle, request, deadline, claim)
        )
        # One future answers first: the work's, or the deadline's (the work goes on).
        first: asyncio.Future[Any] = loop.create_future()
        work.add_done_callback(functools.partial(_pass_on, first))
        timer = loop.call_later(max(deadline - time.perf_counter(), 0.0), _expire, first)
        try:
            outcome = await first
        finally:
            timer.cancel()
        if outcome is not _LATE:
            verdict, seq = outcome
        elif claim.take("loop"):
            verdict, seq = self._cut_off(request), None
        else:
            # Decided in time and recording: the commit may finish within the grace.
            try:
                verdict, seq = await asyncio.wait_for(work, GRACE)
            except TimeoutError:
                verdict, seq = self._in_doubt(request, claim), None
        self._metrics.requests.labels(
            operation=request["operation"], decision=verdict.event_kind
        ).inc()
        self._metrics.duration.observe(time.perf_counter() - started)
        return wire.review_of(verdict.response(request["uid"], audit_seq=seq))

    def _settle(
        self, request: wire.AdmissionRequest, deadline: float, claim: _Claim
    ) -> tuple[Verdict, int | None]:
        """On a worker thread: decide, then record unless the event loop has given up."""
        try:
            verdict = decision.review(
                request, settings=self._settings, ledger=self._ledger, policies=self._policies
            )
        except Exception as exc:  # a failing policy engine or ledger must not become a 500
            self._metrics.failures.labels(cause="error").inc()
            if isinstance(exc, EvaluationError):  # the policies' failure, not this code's
                log.warning("admission decision %s failed: %s", request["uid"], exc)
            else:
                log.exception("admission decision %s failed", request["uid"])
            cause = f"the decision failed ({type(exc).__name__}: {exc})"
            verdict = decision.undecided(request, settings=self._settings, cause=cause)
        if not claim.take("worker", verdict):
            return verdict, None
        try:
            remaining = max(deadline - time.perf_counter(), 0.001)
            return verdict, self._recorder.record(verdict.event(request), timeout=remaining)
        except Exception as exc:  # any failure to record is answered the same way
            self._metrics.failures.labels(cause="audit").inc()
            log.error("cannot record admission decision %s: %s", request["uid"], exc)
            return self._unrecorded(request, verdict, exc), None

    def _cut_off(self, request: wire.AdmissionRequest) -> Verdict:
        """The answer to a decision still running at the deadline; that answer is recorded."""
        self._metrics.failures.labels(cause="timeout").inc()
        cause = f"the decision took longer than {self._settings.decision_timeout:g} s"
        verdict = decision.undecided(request, settings=self._settings, cause=cause)
        uid = request["uid"]

        def lost(error: object) -> None:  # the answer stands; only its record is missing
            self._metrics.failures.labels(cause="audit").inc()
            log.error("cannot record admission decision %s: %s", uid, error)

        try:
            self._recorder.record_later(verdict.event(request), on_failure=lost)
        except Exception as exc:
            lost(exc)
        return verdict

    def _in_doubt(self, request: wire.AdmissionRequest, claim: _Claim) -> Verdict:
        """The answer when the decision's commit started but outlasted the grace: its record
        may still land, so a refusal is kept as it is and an allowance becomes the fallback."""
        assert claim.verdict is not None
        self._metrics.failures.labels(cause="audit").inc()
        limit = self._settings.decision_timeout + GRACE
        slow = TimeoutError(f"no commit within {limit:g} s")
        return self._unrecorded(request, claim.verdict, slow)

    def _unrecorded(
        self, request: wire.AdmissionRequest, verdict: Verdict, error: BaseException
    ) -> Verdict:
        detail = str(error) or type(error).__name__
        fallback = decision.undecided(
            request,
            settings=self._settings,
            cause=f"the audit store cannot record the decision ({detail})",
        )
        if not verdict.allowed:
            return verdict
        if not fallback.allowed:
            return fallback
        return dataclasses.replace(verdict, warnings=(*verdict.warnings, *fallback.warnings))
