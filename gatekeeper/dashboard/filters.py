"""The filters every listing takes, parsed once at the edge, and the page cursors bound to them."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from typing import Any, Final

from gatekeeper.audit import chain
from gatekeeper.dashboard.errors import BadRequest

MAX_LIMIT: Final = 1000
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
_COMMIT: Final = re.compile(r"^[0-9a-f]{7,64}$")


@dataclass(frozen=True)
class Filters:
    """What a listing is narrowed to; every field optional, all of them must hold."""

    since: datetime | None = None
    until: datetime | None = None
    source: str | None = None
    namespace: str | None = None
    kinds: tuple[str, ...] = ()
    object_kind: str | None = None
    actor: str | None = None
    commit: str | None = None

    def as_json(self) -> dict[str, Any]:
        """The filters as a report states them: unset ones are left out."""
        out: dict[str, Any] = {}
        for name, value in asdict(self).items():
            if value in (None, (), []):
                continue
            out[name] = chain.format_time(value) if isinstance(value, datetime) else value
        if "kinds" in out:
            out["kinds"] = list(out["kinds"])
        return out

    def digest(self) -> str:
        text = json.dumps(self.as_json(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()[:16]


def parse_filters(params: Mapping[str, str], *, allowed: tuple[str, ...] = FILTER_NAMES) -> Filters:
    """Filters from query parameters; an unknown name or a bad value is a `BadRequest`."""
    unknown = sorted(set(params) - set(allowed) - set(_PAGING) - {"format", "n", "seed"})
    if unknown:
        raise BadRequest(
            f"unknown filter {unknown[0]!r}; this endpoint takes: {', '.join(allowed)}"
        )
    since = _time(params, "since")
    until = _time(params, "until")
    if since and until and since >= until:
        raise BadRequest("since must be before until")
    commit = params.get("commit")
    if commit is not None and not _COMMIT.match(commit):
        raise BadRequest("commit must be 7 to 64 lower-case hex digits")
    kinds = tuple(k for k in (params.get("kind") or "").split(",") if k)
    for kind in kinds:
        if not chain.is_valid_kind(kind):
            raise BadRequest(f"kind {kind!r} is not an event kind such as sync.applied")
    return Filters(
        since=since,
        until=until,
        source=_text(params, "source"),
        namespace=_text(params, "namespace"),
        kinds=kinds,
        object_kind=_text(params, "objectKind"),
        actor=_text(params, "actor"),
        commit=commit,
    )


def parse_limit(params: Mapping[str, str], default: int = 100) -> int:
    text = params.get("limit")
    if text is None:
        return default
    if not text.isdigit() or not 1 <= int(text) <= MAX_LIMIT:
        raise BadRequest(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def _text(params: Mapping[str, str], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if not value or len(value) > 512:
        raise BadRequest(f"{name} must be 1 to 512 characters")
    return value


def _time(params: Mapping[str, str], name: str) -> datetime | None:
    text = params.get(name)
    if text is None:
        return None
    try:
        if len(text) == 10:
            day = date.fromisoformat(text)
            return datetime(day.year, day.month, day.day, tzinfo=UTC)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise BadRequest(
            f"{name} must be a date (2026-11-01) or a time (2026-11-01T09:30:00Z): {text!r}"
        ) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


# -- cursors -----------------------------------------------------------------------------------


def encode_cursor(after: int, filters: Filters) -> str:
    """An opaque cursor for the page after `after`, valid only with the same filters."""
    raw = json.dumps({"a": after, "f": filters.digest()}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(text: str | None, filters: Filters) -> int | None:
    """The sequence number a cursor continues after; `BadRequest` for one from elsewhere."""
    if text is None:
        return None
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        document = json.loads(raw)
        after, digest = document["a"], document["f"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise BadRequest("after is not a cursor this API gave out") from exc
    if not isinstance(after, int) or after < 0 or digest != filters.digest():
        raise BadRequest(
            "after is a cursor of another query: page with the filters it was given for"
        )
    return after
