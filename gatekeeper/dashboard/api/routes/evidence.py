"""Changes, incidents and samples: the records an auditor tests, linked."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from gatekeeper.dashboard import evidence
from gatekeeper.dashboard.api.deps import Parts, Reader
from gatekeeper.dashboard.errors import BadRequest
from gatekeeper.dashboard.filters import (
    decode_cursor,
    encode_cursor,
    parse_filters,
    parse_limit,
)

router = APIRouter(tags=["evidence"])

Text = Annotated[str | None, Query(max_length=512)]
_CHANGE_FILTERS = ("since", "until", "source", "actor", "commit")
_INCIDENT_FILTERS = ("since", "until", "source", "namespace", "objectKind", "actor")


@router.get("/changes", summary="Applied syncs: commits, signers, rules, policy set, objects")
def list_changes(
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
    filters = evidence.change_filters(parse_filters(params, allowed=_CHANGE_FILTERS))
    integrity = parts.integrity.state
    page = parts.queries.page(
        filters, after=decode_cursor(params.get("after"), filters), limit=parse_limit(params, 50)
    )
    return {
        "filters": filters.as_json(),
        "items": [evidence.change_json(r, parts.store, integrity) for r in page.records],
        "next": None if page.next_cursor is None else encode_cursor(page.next_cursor, filters),
    }


@router.get("/incidents", summary="Break-glass and drift, linked to detection and correction")
def list_incidents(
    request: Request,
    parts: Parts,
    _: Reader,
    since: Text = None,
    until: Text = None,
    source: Text = None,
    namespace: Text = None,
    objectKind: Text = None,
    actor: Text = None,
    limit: Annotated[str | None, Query(max_length=8)] = None,
    after: Annotated[str | None, Query(max_length=256)] = None,
) -> dict[str, Any]:
    params = dict(request.query_params)
    filters = evidence.incident_filters(parse_filters(params, allowed=_INCIDENT_FILTERS))
    integrity = parts.integrity.state
    page = parts.queries.page(
        filters, after=decode_cursor(params.get("after"), filters), limit=parse_limit(params, 50)
    )
    items = [evidence.incident_json(r, parts.store, integrity) for r in page.records]
    return {
        "filters": filters.as_json(),
        "items": [item for item in items if item is not None],
        "next": None if page.next_cursor is None else encode_cursor(page.next_cursor, filters),
    }


@router.get("/sample", summary="A reproducible sample of changes (seeded)")
def sample_changes(
    request: Request,
    parts: Parts,
    _: Reader,
    n: Annotated[str | None, Query(max_length=6)] = None,
    seed: Annotated[str | None, Query(max_length=20)] = None,
    since: Text = None,
    until: Text = None,
    source: Text = None,
) -> dict[str, Any]:
    params = dict(request.query_params)
    filters = parse_filters(params, allowed=("since", "until", "source"))
    parts.queries.check(filters)
    size = _whole(params.get("n", "25"), "n", 1, 1000)
    chosen_seed = _whole(params.get("seed", "0"), "seed", 0, 2**63 - 1)
    seqs, population = evidence.sample(parts.queries, filters, n=size, seed=chosen_seed)
    integrity = parts.integrity.state
    items = []
    for seq in seqs:
        record = parts.store.get(seq)
        if record is not None:
            items.append(evidence.change_json(record, parts.store, integrity))
    return {
        "filters": filters.as_json(),
        "n": size,
        "seed": chosen_seed,
        "population": population,
        "method": "Python random.Random(seed).sample over the ascending sequence numbers of "
        "every matching sync.applied record",
        "items": items,
    }


def _whole(text: str, name: str, low: int, high: int) -> int:
    if not text.isdigit() or not low <= int(text) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}")
    return int(text)
