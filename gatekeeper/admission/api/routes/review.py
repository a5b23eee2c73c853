"""`POST /validate`: AdmissionReview v1 in, AdmissionReview v1 out."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request, Response

from gatekeeper.admission.api.deps import PartsDep
from gatekeeper.admission.errors import BadReview, BodyTooLarge

router = APIRouter()


@router.post("/validate")
async def validate(request: Request, parts: PartsDep) -> Response:
    # One dependency rather than three: resolving each costs time on every review.
    metrics = parts.metrics
    try:
        body = await _read_limited(request, parts.settings.server.max_body_bytes)
        review = await parts.service.answer(body)
    except BodyTooLarge as exc:
        metrics.bad_requests.labels(reason="too_large").inc()
        return _bad_request(str(exc))
    except BadReview as exc:
        metrics.bad_requests.labels(reason="malformed").inc()
        return _bad_request(str(exc))
    return Response(content=json.dumps(review).encode(), media_type="application/json")


async def _read_limited(request: Request, limit: int) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLarge(f"request body of {declared} bytes is over the limit of {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyTooLarge(f"request body is over the limit of {limit} bytes")
        chunks.append(chunk)
    body = b"".join(chunks)
    if not body:
        raise BadReview("request body is empty; an AdmissionReview v1 is expected")
    return body


def _bad_request(message: str) -> Response:
    body = json.dumps({"code": 400, "message": message})
    return Response(content=body.encode(), status_code=400, media_type="application/json")
