"""Liveness (`/healthz`) and readiness (`/readyz`: not stopping, the audit store answers and,
when watched, the namespaces have been listed)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from gatekeeper.admission.api.deps import NamespacesDep, PartsDep, StoreDep
from gatekeeper.errors import GatekeeperError

router = APIRouter()


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(parts: PartsDep, store: StoreDep, namespaces: NamespacesDep) -> JSONResponse:
    if parts.stopping.is_set():
        reason = "the webhook is stopping; reviews in flight are still answered"
        return JSONResponse({"status": "stopping", "reason": reason}, status_code=503)
    if namespaces is not None and not namespaces.ready.is_set():
        reason = "the cluster's Namespaces have not been listed yet"
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    try:
        seq, _ = await asyncio.to_thread(store.head)
    except GatekeeperError as exc:
        return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
    return JSONResponse({"status": "ready", "audit_seq": seq})
