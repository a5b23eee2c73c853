"""`create_app(settings)`: the webhook's FastAPI app, with everything it needs built once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse

from gatekeeper.admission.api.deps import AppParts
from gatekeeper.admission.api.routes import health, metrics, review
from gatekeeper.admission.metrics import AdmissionMetrics
from gatekeeper.admission.ports import LedgerPort, PolicyPort
from gatekeeper.admission.service import AdmissionService, AppenderRecorder, Recorder
from gatekeeper.admission.tls import CertificateReloader
from gatekeeper.audit.batching import BatchedAppender
from gatekeeper.audit.ledger import Ledger
from gatekeeper.audit.store import AuditStore
from gatekeeper.settings import Settings


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
    A `CertificateReloader` put on `app.state.tls_reloader` before startup runs with the app.
    """
    owned: list[Any] = []
    if store is None:
        store = AuditStore.from_settings(settings)
        owned.append(store)
    if policies is None:
        from gatekeeper.admission.policies import RegoPolicies

        policies = RegoPolicies.from_settings(settings)
    if recorder is None:
        appender = BatchedAppender(
            store,
            max_delay=settings.admission.record_batch_delay,
            max_size=settings.audit.batch_max_size,
        )
        owned.insert(0, appender)
        recorder = AppenderRecorder(appender)
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
        task = asyncio.create_task(reloader.run()) if reloader is not None else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
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
    parts = AppParts(settings=settings, service=service, metrics=metrics_, store=store)
    app.state.parts = parts
    app.state.tls_reloader = None
    app.add_middleware(review.ReviewEndpoint, parts=parts)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.add_exception_handler(RequestValidationError, _bad_request)
    return app


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"code": 400, "message": str(exc)}, status_code=400)
