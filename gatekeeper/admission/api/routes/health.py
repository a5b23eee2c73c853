"""Liveness (`/healthz`) and readiness (`/readyz`: the audit store answers)."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from gatekeeper.admission.api.deps import StoreDep
from gatekeeper.errors import GatekeeperError

router = APIRouter()


@router.get("/healthz")
async def healthz() -> JSONResponse:
    return JSONResponse({"status": "ok"})


@router.get("/readyz")
async def readyz(store: StoreDep) -> JSONResponse:
    try:
        seq, _ = await asyncio.to_thread(store.head)
    except GatekeeperError as exc:
        return JSONResponse({"status": "unavailable", "reason": str(exc)}, status_code=503)
    return JSONResponse({"status": "ready", "audit_seq": seq})
