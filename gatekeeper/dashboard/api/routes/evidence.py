"""Changes, incidents and samples: the records an auditor tests, linked."""

from __future__ import annotations

import functools
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request

from gatekeeper.dashboard import evidence
from gatekeeper.dashboard.api.deps import Parts, Reader
from gatekeeper.dashboard.api.params import ChangeParams, IncidentParams, SampleParams, page_of
from gatekeeper.dashboard.errors import BadRequest
from gatekeeper.dashboard.filters import parse_filters

router = APIRouter(tags=["evidence"])

CHANGE_FILTERS = ("since", "until", "source", "actor", "commit")
INCIDENT_FILTERS = ("since", "until", "source", "namespace", "objectKind", "actor")


@router.get("/changes", summary="Applied syncs: commits, signers, rules, policy set, objects")
def list_changes(
    request: Request, parts: Parts, _: Reader, params: Annotated[ChangeParams, Query()]
) -> dict[str, Any]:
    query = dict(request.query_params)
    filters = evidence.change_filters(parse_filters(query, allowed=CHANGE_FILTERS))
    item = functools.partial(_change, parts)
    return page_of(parts, query, filters, item, default_limit=50)


@router.get("/incidents", summary="Break-glass and drift, linked to detection and correction")
def list_incidents(
    request: Request, parts: Parts, _: Reader, params: Annotated[IncidentParams, Query()]
) -> dict[str, Any]:
    query = dict(request.query_params)
    filters = evidence.incident_filters(parse_filters(query, allowed=INCIDENT_FILTERS))
    item = functools.partial(_incident, parts)
    return page_of(parts, query, filters, item, default_limit=50)


def _change(parts: Any, record: Any, integrity: Any) -> dict[str, Any]:
    reconciler = parts.settings.admission.reconciler_identity
    return evidence.change_json(record, parts.store, integrity, reconciler=reconciler)


def _incident(parts: Any, record: Any, integrity: Any) -> dict[str, Any] | None:
    return evidence.incident_json(record, parts.store, integrity)


@router.get("/sample", summary="A reproducible sample of changes (seeded)")
def sample_changes(
    request: Request, parts: Parts, _: Reader, params: Annotated[SampleParams, Query()]
) -> dict[str, Any]:
    query = dict(request.query_params)
    filters = parse_filters(query, allowed=("since", "until", "source"), also=("n", "seed"))
    parts.queries.check(filters)
    size = _whole(query.get("n", "25"), "n", 1, 1000)
    chosen_seed = _whole(query.get("seed", "0"), "seed", 0, 2**63 - 1)
    seqs, population = evidence.sample(parts.queries, filters, n=size, seed=chosen_seed)
    integrity = parts.integrity.state
    records = (parts.store.get(seq) for seq in seqs)
    return {
        "filters": filters.as_json(),
        "n": size,
        "seed": chosen_seed,
        "population": population,
        "method": "Python random.Random(seed).sample over the ascending sequence numbers of "
        "every matching sync.applied record",
        "items": [
            evidence.change_json(
                record,
                parts.store,
                integrity,
                reconciler=parts.settings.admission.reconciler_identity,
            )
            for record in records
            if record is not None
        ],
    }


def _whole(text: str, name: str, low: int, high: int) -> int:
    if not (text.isascii() and text.isdigit()) or not low <= int(text) <= high:
        raise BadRequest(f"{name} must be a whole number from {low} to {high}")
    return int(text)
