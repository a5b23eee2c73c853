"""The filters every listing takes, parsed once at the edge, and the page cursors bound to them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping
from typing import Final

from gatekeeper.dashboard.errors import BadRequest
from gatekeeper.report.errors import FilterError
from gatekeeper.report.filters import ReportFilters

MAX_LIMIT: Final = 1000
MAX_SEQ: Final = 2**62
FILTER_NAMES: Final = (
    "since",
    "until",
    "source",
    "namespace",
    "kind",
    "objectKind",
    "actor",
    "commit",
)
_PAGING: Final = ("limit", "after")


# The report's filters are the API's: one parser, one statement of what was selected.
Filters = ReportFilters
_OPTIONS: Final = {
    "--since": "since",
    "--until": "until",
    "--source": "source",
    "--namespace": "namespace",
    "--kind": "kind",
    "--object-kind": "objectKind",
    "--actor": "actor",
    "--commit": "commit",
}


def digest(filters: Filters) -> str:
    """A short digest of the filters, binding a cursor to the query it pages."""
    text = json.dumps(filters.as_json(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_filters(
    params: Mapping[str, str],
    *,
    allowed: tuple[str, ...] = FILTER_NAMES,
    also: tuple[str, ...] = (),
) -> Filters:
    """Filters from query parameters; an unknown name or a bad value is a `BadRequest`.
    `also` names the endpoint's own parameters that are not filters (`format`, `n`)."""
    unknown = sorted(set(params) - set(allowed) - set(_PAGING) - set(also))
    if unknown:
        raise BadRequest(
            f"unknown filter {unknown[0]!r}; this endpoint takes: {', '.join(allowed)}"
        )
    for name in allowed:
        value = params.get(name)
        if value is not None and (not value or len(value) > 512):
            raise BadRequest(f"{name} must be 1 to 512 characters")
    try:
        return ReportFilters.parse(
            since=params.get("since"),
            until=params.get("until"),
            source=params.get("source"),
            namespace=params.get("namespace"),
            kinds=params.get("kind"),
            object_kind=params.get("objectKind"),
            actor=params.get("actor"),
            commit=params.get("commit"),
        )
    except FilterError as exc:
        name = _OPTIONS.get(exc.option, exc.option)
        raise BadRequest(f"{name}: {exc}") from exc


def parse_limit(params: Mapping[str, str], default: int = 100) -> int:
    text = params.get("limit")
    if text is None:
        return default
    if not (text.isascii() and text.isdigit()) or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


# -- cursors -----------------------------------------------------------------------------------


def encode_cursor(after: int, filters: Filters) -> str:
    """An opaque cursor for the page after `after`, valid only with the same filters."""
    raw = json.dumps({"a": after, "f": digest(filters)}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None, filters: Filters) -> int | None:
    """The sequence number a cursor continues after; `BadRequest` for one from elsewhere."""
    if text is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        document = json.loads(raw)
        after, found = document["a"], document["f"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise BadRequest("after is not a cursor this API gave out") from exc
    if type(after) is not int or not 0 <= after <= MAX_SEQ or found != digest(filters):
        raise BadRequest(
            "after is a cursor of another query: page with the filters it was given for"
        )
    return after
