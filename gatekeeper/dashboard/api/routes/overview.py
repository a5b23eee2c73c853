"""The state of the log: integrity, sources, and the controls it evidences."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from gatekeeper.dashboard.api.deps import Parts, Reader
from gatekeeper.dashboard.controls import CONTROLS

router = APIRouter(tags=["overview"])


@router.get("/integrity", summary="Chain verified, last checkpoint, its age, records not covered")
def integrity(parts: Parts, _: Reader) -> dict[str, Any]:
    state = parts.integrity.state
    return state.as_json(parts.queries.head_seq(state), datetime.now(UTC))


@router.get("/sources", summary="Every Git source the log names, with its record count")
def sources(parts: Parts, _: Reader) -> dict[str, Any]:
    found = {name: (count, last) for name, count, last in parts.queries.sources()}
    names = sorted(set(found) | set(parts.queries.configured_sources))
    return {
        "items": [
            {
                "name": name,
                "configured": name in parts.queries.configured_sources,
                "records": found.get(name, (0, 0))[0],
                "last_seq": found.get(name, (0, None))[1],
            }
            for name in names
        ]
    }


@router.get("/controls", summary="Framework controls and the evidence queries behind each")
def controls(_: Reader) -> dict[str, Any]:
    return {"items": [control.as_json() for control in CONTROLS]}
