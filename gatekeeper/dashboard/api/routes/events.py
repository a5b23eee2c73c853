"""Records: listed with filters and cursors, streamed as NDJSON or CSV, one by one with proofs."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import StreamingResponse

from gatekeeper.audit.events import ROLLBACK
from gatekeeper.dashboard import exports
from gatekeeper.dashboard.api.deps import Parts, Reader
from gatekeeper.dashboard.api.params import EventParams, RollbackParams, page_of
from gatekeeper.dashboard.filters import FILTER_NAMES, parse_filters
from gatekeeper.dashboard.queries import record_json

router = APIRouter(tags=["events"])


@router.get("/events", summary="Audit records, filtered, a page at a time or streamed")
def list_events(
    request: Request,
    parts: Parts,
    _: Reader,
    params: Annotated[EventParams, Query()],
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    query = dict(request.query_params)
    filters = parse_filters(query, allowed=FILTER_NAMES, also=("format",))
    wanted = exports.wanted_format(accept, params.format)
    if wanted == "json":
        return page_of(parts, query, filters, record_json)
    parts.queries.check(filters)
    records = parts.queries.stream(filters)
    integrity = parts.integrity.state
    if wanted == "ndjson":
        body = exports.ndjson_lines(records, filters, integrity)
        return StreamingResponse(body, media_type=exports.NDJSON)
    return StreamingResponse(
        exports.csv_lines(records, filters, integrity),
        media_type=exports.CSV + "; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="events.csv"'},
    )


@router.get("/events/{seq}", summary="One record, its link, and the checkpoint that covers it")
def get_event(parts: Parts, _: Reader, seq: Annotated[int, Path(ge=1, le=2**62)]) -> dict[str, Any]:
    return parts.queries.record(seq, parts.integrity.state)


@router.get("/rollbacks", summary="Rollbacks, on command or automatic, with their reasons")
def list_rollbacks(
    request: Request, parts: Parts, _: Reader, params: Annotated[RollbackParams, Query()]
) -> dict[str, Any]:
    query = dict(request.query_params)
    allowed = ("since", "until", "source", "actor", "commit")
    filters = dataclasses.replace(parse_filters(query, allowed=allowed), kinds=(ROLLBACK,))
    return page_of(parts, query, filters, record_json)
