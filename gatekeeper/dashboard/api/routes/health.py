"""Liveness and readiness for the kubelet: no authentication, nothing about the log's content."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from gatekeeper.audit.errors import AuditError
from gatekeeper.dashboard.api.deps import Parts

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is serving")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The audit store answers")
def readyz(parts: Parts) -> JSONResponse:
    if parts.stopping.is_set():
        return JSONResponse({"status": "stopping"}, status_code=503)
    try:
        parts.store.head()
    except AuditError:
        # Unauthenticated: say that, not the database's own words.
        return JSONResponse(
            {"status": "unavailable", "reason": "the audit store cannot be read"},
            status_code=503,
        )
    return JSONResponse({"status": "ok"})
