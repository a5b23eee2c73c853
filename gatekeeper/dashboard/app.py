"""`create_app(settings)`: the dashboard's FastAPI app, its parts built once and closed on exit."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import urllib.parse
from collections.abc import AsyncIterator
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gatekeeper.audit import checkpoints
from gatekeeper.audit.errors import AuditError, CorruptRecord, StoreUnavailable, TamperDetected
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.witness import witness_from_settings
from gatekeeper.dashboard import auth
from gatekeeper.dashboard.activity import Activity
from gatekeeper.dashboard.api.deps import DashboardParts, Reader
from gatekeeper.dashboard.api.routes import events, evidence, health, overview, reports
from gatekeeper.dashboard.errors import (
    AuthUnavailable,
    BadRequest,
    DashboardError,
    Forbidden,
    NotFoundError,
    Unauthenticated,
)
from gatekeeper.dashboard.integrity import IntegrityMonitor
from gatekeeper.dashboard.queries import Queries
from gatekeeper.dashboard.reports import Reports
from gatekeeper.dashboard.web import pages
from gatekeeper.errors import ConfigError
from gatekeeper.report.errors import FontMissing, ReportError
from gatekeeper.settings import Settings

log = logging.getLogger(__name__)

API = "/api/v1"
_STATUS: dict[type[DashboardError], int] = {
    BadRequest: 400,
    Unauthenticated: 401,
    Forbidden: 403,
    NotFoundError: 404,
    AuthUnavailable: 503,
}


def authenticator_from_settings(settings: Settings) -> auth.Authenticator:
    """The tokens file, or the cluster's TokenReview and SubjectAccessReview."""
    dashboard = settings.dashboard
    mode = dashboard.auth
    if mode == "auto":
        mode = "tokens" if dashboard.tokens_file is not None else "kubernetes"
    if mode == "tokens":
        if dashboard.tokens_file is None:
            raise ConfigError("dashboard.auth is tokens but dashboard.tokensFile is not set")
        return auth.TokensFile.load(dashboard.tokens_file)
    from gatekeeper.kube.client import KubeClient
    from gatekeeper.kube.errors import KubeError

    try:
        kube = KubeClient.from_kubeconfig(
            settings.kubernetes.kubeconfig, settings.kubernetes.context
        )
    except KubeError as exc:
        raise ConfigError(
            f"dashboard.auth is kubernetes but the cluster cannot be reached: {exc}; "
            "set dashboard.tokensFile to run outside a cluster"
        ) from exc
    return auth.KubernetesReviews(kube)


def create_app(
    settings: Settings,
    *,
    store: AuditStore | None = None,
    authenticator: auth.Authenticator | None = None,
    integrity: IntegrityMonitor | None = None,
) -> FastAPI:
    """Build the app; parts not given are made from `settings` (and closed on shutdown)."""
    owned_store = store is None
    if store is None:
        store = AuditStore.from_settings(settings)
    if authenticator is None:
        authenticator = authenticator_from_settings(settings)
    witness = witness_from_settings(settings)
    owned_monitor = integrity is None
    if integrity is None:
        integrity = IntegrityMonitor(
            store, checkpoints.verifier_from_settings(settings), witness=witness
        )
    signer = None
    if settings.audit.signing_key_file is not None or settings.audit.signing_key is not None:
        signer = checkpoints.signer_from_settings(settings)
    reports_dir = settings.dashboard.reports_dir or (settings.config_dir / "reports")
    parts = DashboardParts(
        settings=settings,
        store=store,
        authenticator=authenticator,
        integrity=integrity,
        queries=Queries(store, tuple(source.name for source in settings.sources)),
        reports=Reports(reports_dir, store, signer, integrity.verifier, witness),
        signer=signer,
    )

    activity = Activity(store)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if owned_monitor:
            parts.integrity.start()
        reloader = getattr(app.state, "tls_reloader", None)
        reloading = None if reloader is None else asyncio.create_task(reloader.run())
        try:
            yield
        finally:
            if reloading is not None:
                reloading.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reloading
            if owned_monitor:
                parts.integrity.stop()
            if witness is not None:
                witness.close()
            if owned_store:
                parts.store.close()

    app = FastAPI(
        title="GitOps Gatekeeper: audit reports",
        version="1",
        # Served below, behind the same sign-in as everything else.
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.parts = parts
    app.state.activity = activity
    app.include_router(events.router, prefix=API)
    app.include_router(overview.router, prefix=API)
    app.include_router(evidence.router, prefix=API)
    app.include_router(reports.router, prefix=API)
    app.include_router(health.router)

    @app.get(f"{API}/openapi.json", include_in_schema=False)
    def openapi(_: Reader) -> JSONResponse:
        return JSONResponse(app.openapi())

    app.include_router(pages.router)
    app.mount("/static", StaticFiles(packages=[("gatekeeper.dashboard.web", "static")]), "static")
    _install_error_handlers(app)
    _install_security_headers(app)
    return app


_SECURITY_HEADERS: Final = (
    ("X-Content-Type-Options", "nosniff"),
    ("Referrer-Policy", "same-origin"),
    ("X-Frame-Options", "DENY"),
    (
        "Content-Security-Policy",
        "default-src 'self'; img-src 'self' data:; style-src 'self'; frame-ancestors 'none'",
    ),
)


class _SecurityHeaders:
    """Adds the security headers to every response, as plain ASGI.

    Not Starlette's `BaseHTTPMiddleware`: that one ends a streamed body properly when the
    body fails part-way, so a cut export would reach the client as a complete, shorter file.
    Here the failure reaches the server, which aborts the transfer.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Pages and the API show audit records to a signed-in auditor: no cache may keep
        # them (after "Sign out" on a shared workstation). Only the stylesheet may be cached.
        cacheable = str(scope.get("path", "")).startswith("/static/")

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                for name, value in _SECURITY_HEADERS:
                    headers.setdefault(name, value)
                if not cacheable:
                    headers.setdefault("Cache-Control", "no-store")
            await send(message)

        await self.app(scope, receive, send_with_headers)


def _install_security_headers(app: FastAPI) -> None:
    app.add_middleware(_SecurityHeaders)


def _problem(status: int, message: str, **headers: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status, headers=headers)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(pages.SignInRequired)
    async def _sign_in(_: Request, exc: pages.SignInRequired) -> Response:
        target = "/login?" + urllib.parse.urlencode({"next": exc.next_path})
        return RedirectResponse(target, status_code=303)

    @app.exception_handler(DashboardError)
    async def _dashboard_error(request: Request, exc: DashboardError) -> Response:
        status = next((code for kind, code in _STATUS.items() if isinstance(exc, kind)), 400)
        if not request.url.path.startswith(API):
            return pages.error_page(request, status, str(exc))
        headers = {"WWW-Authenticate": 'Bearer realm="gatekeeper"'} if status == 401 else {}
        return _problem(status, str(exc), **headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return _problem(400, "; ".join(_describe(error) for error in exc.errors()))

    @app.exception_handler(StoreUnavailable)
    async def _unavailable(_: Request, exc: StoreUnavailable) -> JSONResponse:
        log.warning("audit store unavailable: %s", exc)
        return _problem(503, f"the audit store cannot be read now: {exc}")

    @app.exception_handler(TamperDetected)
    async def _tampered(request: Request, exc: TamperDetected) -> Response:
        # A row that cannot be read back as a record: what was asked cannot be shown
        # truthfully, and nothing the caller does can change that.
        log.warning("audit log tampered with: %s", exc)
        message = (
            f"the audit log is tampered with: {exc}; `gatekeeper audit verify` names every problem"
        )
        if not request.url.path.startswith(API):
            return pages.error_page(request, 503, message, heading="The audit log is tampered with")
        body: dict[str, Any] = {"error": message, "status": 503, "tampered": True}
        if isinstance(exc, CorruptRecord):
            body["seq"] = exc.seq
        return JSONResponse(body, status_code=503)

    @app.exception_handler(ReportError)
    async def _report(_: Request, exc: ReportError) -> JSONResponse:
        if isinstance(exc, FontMissing):
            return _problem(503, str(exc))
        return _problem(400, str(exc))

    @app.exception_handler(AuditError)
    async def _audit(_: Request, exc: AuditError) -> JSONResponse:
        return _problem(400, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem(exc.status_code, str(exc.detail))


def _describe(error: Any) -> str:
    where = ".".join(str(part) for part in error.get("loc", ()) if part not in ("query", "path"))
    return f"{where}: {error.get('msg', 'invalid')}" if where else str(error.get("msg"))
