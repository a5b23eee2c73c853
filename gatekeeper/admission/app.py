"""`create_app(settings)`: the webhook's FastAPI app, with everything it needs built once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gatekeeper.admission.api.deps import AppParts
from gatekeeper.admission.api.routes import health, metrics, review
from gatekeeper.admission.metrics import AdmissionMetrics
from gatekeeper.admission.namespaces import NamespaceWatch
from gatekeeper.admission.ports import LedgerPort, PolicyPort
from gatekeeper.admission.service import AdmissionService, AppenderRecorder, Recorder
from gatekeeper.admission.tls import CertificateReloader
from gatekeeper.audit.batching import BatchedAppender
from gatekeeper.audit.ledger import Ledger
from gatekeeper.audit.store import AuditStore
from gatekeeper.policy.watch import PolicyWatcher
from gatekeeper.settings import Settings

log = logging.getLogger(__name__)


def create_app(
    settings: Settings,
    *,
    store: AuditStore | None = None,
    policies: PolicyPort | None = None,
    ledger: LedgerPort | None = None,
    recorder: Recorder | None = None,
) -> FastAPI:
    """Build the app. Parts not given are made from `settings` and closed on shutdown.

    Policies are loaded here, so a policy set that does not load stops `serve` at start.
    With policies made from settings, the app follows their files and, as
    `admission.namespaceLabels` says, the cluster's Namespaces.
    A `CertificateReloader` put on `app.state.tls_reloader` before startup runs with the app.
    """
    owned: list[Any] = []
    if store is None:
        store = AuditStore.from_settings(settings)
        owned.append(store)
    watcher: PolicyWatcher | None = None
    namespaces: NamespaceWatch | None = None
    if recorder is None:
        appender = BatchedAppender(
            store,
            max_delay=settings.admission.record_batch_delay,
            max_size=settings.audit.batch_max_size,
            # A batch that waits longer for the lock has no caller left to answer.
            lock_wait=settings.admission.decision_timeout,
        )
        owned.insert(0, appender)
        recorder = AppenderRecorder(appender)
    if policies is None:
        from gatekeeper.admission.policies import RegoPolicies

        rego = RegoPolicies.from_settings(settings)
        watcher = PolicyWatcher(
            rego.evaluator,
            record=functools.partial(recorder.record, timeout=30.0),
            component="webhook",
            interval=settings.policies.reload_interval,
        )
        namespaces = NamespaceWatch.from_settings(settings, rego.evaluator)
        if namespaces is not None:
            rego.evaluator.refuse_unknown_namespaces(namespaces.lookup)
        policies = rego
    metrics_ = AdmissionMetrics()
    service = AdmissionService(
        settings=settings.admission,
        ledger=ledger if ledger is not None else Ledger(store),
        policies=policies,
        recorder=recorder,
        metrics=metrics_,
    )

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        reloader: CertificateReloader | None = getattr(app.state, "tls_reloader", None)
        tasks = [asyncio.create_task(reloader.run())] if reloader is not None else []
        # Reloads parse and probe the new set on a thread of their own, whose policy engine
        # goes with that thread when it ends.
        reloads = ThreadPoolExecutor(max_workers=1, thread_name_prefix="policy-reload")
        if watcher is not None and watcher.interval > 0:
            tasks.append(asyncio.create_task(_follow_policies(watcher, reloads)))
        if namespaces is not None:
            namespaces.start()
        try:
            yield
        finally:
            if namespaces is not None:
                namespaces.stop()
            for task in tasks:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await asyncio.to_thread(reloads.shutdown, wait=True)
            service.close()
            for part in owned:
                await asyncio.to_thread(part.close)

    app = FastAPI(
        title="GitOps Gatekeeper admission webhook",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    parts = AppParts(
        settings=settings, service=service, metrics=metrics_, store=store, namespaces=namespaces
    )
    app.state.parts = parts
    app.state.tls_reloader = None
    app.add_middleware(review.ReviewEndpoint, parts=parts)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.add_exception_handler(RequestValidationError, _bad_request)
    return app


async def _follow_policies(watcher: PolicyWatcher, reloads: ThreadPoolExecutor) -> None:
    loop = asyncio.get_running_loop()
    while True:
        await asyncio.sleep(watcher.interval)
        try:
            await loop.run_in_executor(reloads, watcher.check)
        except Exception:  # a failed look must not end the following
            log.exception("checking the policy files failed")


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"code": 400, "message": str(exc)}, status_code=400)
