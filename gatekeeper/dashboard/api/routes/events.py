"""Records: listed with filters and cursors, streamed as NDJSON or CSV, one by one with proofs."""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Path, Query, Request
from fastapi.responses import StreamingResponse

from gatekeeper.dashboard import exports
from gatekeeper.dashboard.api.deps import Parts, Reader
from gatekeeper.dashboard.filters import (
    FILTER_NAMES,
    decode_cursor,
    encode_cursor,
    parse_filters,
    parse_limit,
)
from gatekeeper.dashboard.queries import record_json

router = APIRouter(tags=["events"])

Text = Annotated[str | None, Query(max_length=512)]


@router.get("/events", summary="Audit records, filtered, a page at a time or streamed")
def list_events(
    request: Request,
    parts: Parts,
    _: Reader,
    since: Text = None,
    until: Text = None,
    source: Text = None,
    namespace: Text = None,
    kind: Text = None,
    objectKind: Text = None,
    actor: Text = None,
    commit: Text = None,
    limit: Annotated[str | None, Query(max_length=8)] = None,
    after: Annotated[str | None, Query(max_length=256)] = None,
    format: Annotated[Literal["json", "ndjson", "csv"] | None, Query()] = None,
    accept: Annotated[str | None, Header()] = None,
) -> Any:
    params = dict(request.query_params)
    filters = parse_filters(params, allowed=FILTER_NAMES)
    integrity = parts.integrity.state
    wanted = exports.wanted_format(accept, format)
    if wanted != "json":
        parts.queries.check(filters)
        records = parts.queries.stream(filters)
        if wanted == "ndjson":
            body = exports.ndjson_lines(records, filters, integrity)
            return StreamingResponse(body, media_type=exports.NDJSON)
        body = exports.csv_lines(records, filters, integrity)
        return StreamingResponse(
            body,
            media_type=exports.CSV + "; charset=utf-8",
            headers={"Content-Disposition": 'attachment; filename="events.csv"'},
        )
    page = parts.queries.page(
        filters, after=decode_cursor(params.get("after"), filters), limit=parse_limit(params)
    )
    return {
        "filters": filters.as_json(),
        "items": [record_json(record, integrity) for record in page.records],
        "next": None if page.next_cursor is None else encode_cursor(page.next_cursor, filters),
    }


@router.get("/events/{seq}", summary="One record, its link, and the checkpoint that covers it")
def get_event(parts: Parts, _: Reader, seq: Annotated[int, Path(ge=1, le=2**62)]) -> dict[str, Any]:
    return parts.queries.record(seq, parts.integrity.state)


@router.get("/rollbacks", summary="Rollbacks, on command or automatic, with their reasons")
def list_rollbacks(
    request: Request,
    parts: Parts,
    _: Reader,
    since: Text = None,
    until: Text = None,
    source: Text = None,
    actor: Text = None,
    commit: Text = None,
    limit: Annotated[str | None, Query(max_length=8)] = None,
    after: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    params = dict(request.query_params)
    filters = parse_filters(params, allowed=("since", "until", "source", "actor", "commit"))
    filters = dataclasses.replace(filters, kinds=("rollback",))
    integrity = parts.integrity.state
    page = parts.queries.page(
        filters, after=decode_cursor(params.get("after"), filters), limit=parse_limit(params)
    )
    return {
        "filters": filters.as_json(),
        "items": [record_json(record, integrity) for record in page.records],
        "next": None if page.next_cursor is None else encode_cursor(page.next_cursor, filters),
    }
