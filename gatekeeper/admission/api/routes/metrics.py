"""`GET /metrics` in the Prometheus text format."""

from __future__ import annotations

from fastapi import APIRouter, Response

from gatekeeper.admission.api.deps import MetricsDep

router = APIRouter()


@router.get("/metrics")
async def metrics(metrics: MetricsDep) -> Response:
    return Response(content=metrics.render(), media_type=metrics.content_type)
