"""Query parameters of each listing, declared once for OpenAPI, and one way to page.

The models document and bound the parameters; the request's own query is what
`filters.parse_filters` reads, so that an unknown parameter is named in the 400 it gets.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Literal

from pydantic import BaseModel, Field

from gatekeeper.audit.events import Record
from gatekeeper.dashboard.api.deps import DashboardParts
from gatekeeper.dashboard.filters import Filters, decode_cursor, encode_cursor, parse_limit
from gatekeeper.dashboard.integrity import IntegrityState

Text = str | None


class Paged(BaseModel):
    """Cursor paging: `limit` records after the cursor `after` gave by the previous page."""

    limit: str | None = Field(None, max_length=8, description="1 to 1000 records a page.")
    after: str | None = Field(None, max_length=256, description="The `next` of the page before.")


class _Period(Paged):
    since: Text = Field(None, max_length=64, description="From this UTC date or time on.")
    until: Text = Field(None, max_length=64, description="Before this UTC date or time.")
    source: Text = Field(None, max_length=512, description="A Git source's name.")
    actor: Text = Field(None, max_length=512, description="Who acted.")


class RollbackParams(_Period):
    commit: Text = Field(None, max_length=64, description="A commit SHA (7 to 64 hex digits).")


class ChangeParams(RollbackParams):
    pass


class IncidentParams(_Period):
    namespace: Text = Field(None, max_length=512, description="The object's namespace.")
    objectKind: Text = Field(None, max_length=512, description="The object's kind.")


class EventParams(IncidentParams):
    kind: Text = Field(None, max_length=512, description="Record kinds, comma-separated.")
    commit: Text = Field(None, max_length=64, description="A commit SHA (7 to 64 hex digits).")
    format: Literal["json", "ndjson", "csv"] | None = Field(
        None, description="Instead of the Accept header: json pages, or a streamed export."
    )


class SampleParams(BaseModel):
    n: str | None = Field(None, max_length=6, description="How many changes, 1 to 1000.")
    seed: str | None = Field(None, max_length=20, description="The seed; the same gives the same.")
    since: Text = Field(None, max_length=64)
    until: Text = Field(None, max_length=64)
    source: Text = Field(None, max_length=512)


def page_of(
    parts: DashboardParts,
    query: Mapping[str, str],
    filters: Filters,
    item: Callable[[Record, IntegrityState], dict[str, Any] | None],
    *,
    default_limit: int = 100,
) -> dict[str, Any]:
    """One page of a listing: its filters, `item(record, integrity)` for each record that
    gives one (None is left out), and the cursor of the next page."""
    page = parts.queries.page(
        filters,
        after=decode_cursor(query.get("after"), filters),
        limit=parse_limit(query, default_limit),
    )
    integrity = parts.integrity.state
    items = [item(record, integrity) for record in page.records]
    return {
        "filters": filters.as_json(),
        "items": [entry for entry in items if entry is not None],
        "next": None if page.next_cursor is None else encode_cursor(page.next_cursor, filters),
    }
