"""`create_app(settings)`: the webhook's FastAPI app, with everything it needs built once."""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from gatekeeper.admission.api.clientauth import ClientCertificateGate
from gatekeeper.admission.api.deadline import RequestDeadline
from gatekeeper.admission.api.deps import AppParts
from gatekeeper.admission.api.routes import health, metrics, review
from gatekeeper.admission.companions import Companions
from gatekeeper.admission.metrics import AdmissionMetrics
from gatekeeper.admission.namespaces import NamespaceWatch
from gatekeeper.admission.ports import LedgerPort, PolicyPort
from gatekeeper.admission.service import AdmissionService, AppenderRecorder, Recorder
from gatekeeper.admission.tls import CertificateReloader
from gatekeeper.audit import checkpoints
from gatekeeper.audit.batching import BatchedAppender
from gatekeeper.audit.ledger import Ledger
from gatekeeper.audit.store import AuditStore
from gatekeeper.policy.watch import PolicyWatcher
from gatekeeper.settings import Settings

if TYPE_CHECKING:
    from gatekeeper.admission.policies import RegoPolicies


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
    owned_store = store is None
    if store is None:
        store = AuditStore.from_settings(settings)
    # The webhook compares Secrets digest for digest: a key that does not load stops it here.
    store.secret_digester  # noqa: B018
    appender: BatchedAppender | None = None
    if recorder is None:
        appender = BatchedAppender(
            store,
            max_delay=settings.admission.record_batch_delay,
            max_size=settings.audit.batch_max_size,
            # A batch that waits longer for the lock has no caller left to answer.
            lock_wait=settings.admission.decision_timeout,
        )
        recorder = AppenderRecorder(appender)
    companions = Companions(scheduler=checkpoints.scheduler_from_settings(store, settings))
    owned_policies: RegoPolicies | None = None  # closed with the app
    if policies is None:
        policies = owned_policies = _policies_from(settings, recorder, companions, store)
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
        try:
            async with companions.running(reloader):
                yield
        finally:
            # In this order: no decision is under way, every record is committed, then the
            # last checkpoint covers them all.
            service.close()
            if owned_policies is not None:
                owned_policies.close()  # the policy processes, when policies are isolated
            if appender is not None:
                await asyncio.to_thread(appender.close)
            await companions.final_checkpoint()
            if owned_store:
                await asyncio.to_thread(store.close)

    app = _WebhookApp(
        title="GitOps Gatekeeper admission webhook",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    parts = AppParts(
        settings=settings,
        service=service,
        metrics=metrics_,
        store=store,
        namespaces=companions.namespaces,
    )
    app.state.parts = parts
    app.state.tls_reloader = None
    app.add_middleware(review.ReviewEndpoint, parts=parts)
    # Added last, so run first: the body's deadline, then, outermost, the client check.
    server = settings.server
    app.add_middleware(RequestDeadline, seconds=server.request_timeout, metrics=metrics_)
    if server.client_ca_file is not None:
        app.add_middleware(ClientCertificateGate, names=server.client_names, metrics=metrics_)
    # Reviews take the same checks in the same order, without the framework's layers.
    reviews: ASGIApp = review.ReviewEndpoint(_no_route, parts=parts)
    reviews = RequestDeadline(reviews, seconds=server.request_timeout, metrics=metrics_)
    if server.client_ca_file is not None:
        reviews = ClientCertificateGate(reviews, names=server.client_names, metrics=metrics_)
    app.reviews = reviews
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.add_exception_handler(RequestValidationError, _bad_request)
    return app


class _WebhookApp(FastAPI):
    """The FastAPI app, except that `POST /validate` goes straight to `reviews`.

    The API server waits for this answer on every guarded write; FastAPI's own layers
    (error pages, body limit, telemetry) cost a tenth of the empty webhook's whole answer
    and do nothing for it: `ReviewEndpoint` answers every error itself. Every other path,
    and the lifespan, go through FastAPI as before.
    """

    reviews: ASGIApp | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.reviews is not None and scope["type"] == "http" and scope["path"] == review.PATH:
            scope["app"] = self
            await self.reviews(scope, receive, send)
            return
        await super().__call__(scope, receive, send)


async def _no_route(scope: Scope, receive: Receive, send: Send) -> None:
    raise AssertionError(f"{review.PATH} is answered by ReviewEndpoint, never passed on")


def _policies_from(
    settings: Settings, recorder: Recorder, companions: Companions, store: AuditStore
) -> RegoPolicies:
    """The configured policies, followed on disk and, as configured, told the Namespaces."""
    from gatekeeper.admission.policies import RegoPolicies

    rego = RegoPolicies.from_settings(settings, history=store)
    companions.watcher = PolicyWatcher(
        rego.evaluator,
        record=functools.partial(recorder.record, timeout=30.0),
        component="webhook",
        interval=settings.policies.reload_interval,
    )
    companions.namespaces = NamespaceWatch.from_settings(settings, rego.evaluator)
    if companions.namespaces is not None:
        rego.evaluator.refuse_unknown_namespaces(companions.namespaces.lookup)
    return rego


async def _bad_request(request: Request, exc: Exception) -> JSONResponse:
    return JSONResponse({"code": 400, "message": str(exc)}, status_code=400)
