"""The admission service: decides within a deadline, records, and answers one review."""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Protocol

from gatekeeper.admission import decision, wire
from gatekeeper.admission.metrics import AdmissionMetrics
from gatekeeper.admission.ports import LedgerPort, PolicyPort
from gatekeeper.admission.verdict import Verdict
from gatekeeper.audit.batching import BatchedAppender
from gatekeeper.audit.events import NewEvent
from gatekeeper.settings import AdmissionSettings

log = logging.getLogger(__name__)


class Recorder(Protocol):
    """Where decisions are recorded; returns the record's sequence number once committed."""

    async def record(self, event: NewEvent) -> int: ...


class AppenderRecorder:
    """Records through the audit store's batched appender (acknowledged only after commit)."""

    def __init__(self, appender: BatchedAppender) -> None:
        self._appender = appender

    async def record(self, event: NewEvent) -> int:
        record = await self._appender.append_async(event)
        return record.seq


class AdmissionService:
    """Turns an AdmissionReview body into the AdmissionReview answer.

    The decision runs on a worker thread so that a slow policy can be cut off at
    `admission.decisionTimeout`, which also bounds the time spent recording; what happens
    then is decided by `decision.undecided`. Only a malformed body raises (`BadReview`).
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
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="admission")

    def close(self) -> None:
        # Waiting lets each worker thread drop its own policy engine: native engines such as
        # regorus must not be freed from another thread.
        self._executor.shutdown(wait=True, cancel_futures=True)

    async def answer(self, body: bytes) -> wire.AdmissionReview:
        started = time.perf_counter()
        request = wire.parse_review(body)
        deadline = started + self._settings.decision_timeout
        verdict = await self._decide(request, deadline)
        seq: int | None = None
        try:
            remaining = max(deadline - time.perf_counter(), 0.001)
            seq = await asyncio.wait_for(self._recorder.record(verdict.event(request)), remaining)
        except Exception as exc:  # any failure to record is answered the same way
            self._metrics.failures.labels(cause="audit").inc()
            log.error("cannot record admission decision %s: %s", request["uid"], exc)
            verdict = self._unrecorded(request, verdict, exc)
        self._metrics.requests.labels(
            operation=request["operation"], decision=verdict.event_kind
        ).inc()
        self._metrics.duration.observe(time.perf_counter() - started)
        return wire.review_of(verdict.response(request["uid"], audit_seq=seq))

    async def _decide(self, request: wire.AdmissionRequest, deadline: float) -> Verdict:
        call = functools.partial(
            decision.review,
            request,
            settings=self._settings,
            ledger=self._ledger,
            policies=self._policies,
        )
        loop = asyncio.get_running_loop()
        try:
            return await asyncio.wait_for(
                loop.run_in_executor(self._executor, call), deadline - time.perf_counter()
            )
        except TimeoutError:
            self._metrics.failures.labels(cause="timeout").inc()
            cause = f"the decision took longer than {self._settings.decision_timeout:g} s"
        except Exception as exc:  # a failing policy engine or ledger must not become a 500
            self._metrics.failures.labels(cause="error").inc()
            log.exception("admission decision %s failed", request["uid"])
            cause = f"the decision failed ({type(exc).__name__}: {exc})"
        return decision.undecided(request, settings=self._settings, cause=cause)

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
