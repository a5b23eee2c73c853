"""The hash chain: canonical bytes of a record and its SHA-256, kept pure and fast.

A record's hash is SHA-256 over the RFC 8785 canonical JSON of the object
`{actor, commit, kind, payload, prev_hash, seq, source, subject, time}`. The payload is stored
already canonical, so the record's bytes are assembled from pieces instead of re-serialising
the whole object on every verification; a property test checks the two agree.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import orjson

from gatekeeper.canonical import NotCanonicalisable, canonical_json

_KIND = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*$")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z")
_SAFE_DIGITS = 15  # every integer of up to 15 digits is within RFC 8785's exact range
_SORTED = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER


class _Inexact(Exception):
    """A number where the fast encoder's output may differ from RFC 8785's."""


def _inexact(text: str) -> Any:
    raise _Inexact(text)


def _integer(text: str) -> int:
    if len(text) > _SAFE_DIGITS:
        raise _Inexact(text)
    return int(text)


# Parses integers and strings as usual but stops at a float or a long integer, so that the
# commonest payloads are checked against the fast encoder alone.
# (`scan_once` is the C scanner without `decode`'s checks, which the caller makes itself.)
_plain_scan: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder(
    parse_float=_inexact, parse_int=_integer
).scan_once  # type: ignore[attr-defined]
_plain_dumps = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
).encode
# The C string encoder of ensure_ascii=False mode: quotes and escapes, nothing else.
_encode_string = json.encoder.encode_basestring


def format_time(moment: datetime) -> str:
    """UTC time as it enters the hash: `2026-11-26T04:30:00.123456Z`."""
    return as_utc(moment).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def as_utc(moment: datetime) -> datetime:
    """`moment` in UTC; a naive time is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def parse_time(text: str) -> datetime:
    """The inverse of `format_time`."""
    return datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)


@functools.lru_cache(maxsize=1024)
def is_valid_kind(kind: str) -> bool:
    """Kinds are dotted lower-case words such as `sync.applied`."""
    return bool(_KIND.match(kind))


def canonical_payload(payload: Any) -> str:
    """The payload as stored and hashed: RFC 8785 canonical JSON text."""
    return canonical_json(payload).decode("utf-8")


def time_problem(text: object) -> str | None:
    """Why `text` is not a time as `format_time` writes it, or None when it is."""
    if type(text) is not str or not _TIME.fullmatch(text):
        return f"its time {shown(text)} is not in the canonical form"
    try:
        datetime.fromisoformat(text)
    except ValueError:
        return f"its time {shown(text)} is not a time"
    return None


def payload_problem(text: object) -> str | None:
    """Why `text` is not the canonical JSON of an object (as payloads are stored and hashed),
    or None when it is."""
    if type(text) is not str:
        return f"its payload is a {type(text).__name__}, not JSON text"
    # The commonest case, with orjson: an object without floats (whose form may differ from
    # RFC 8785's) or integers beyond 2^53 (refused by OPT_STRICT_INTEGER), with keys that
    # sort alike by code point and by UTF-16 unit, which orjson writes back exactly as stored.
    if text.isascii() or max(text) <= "\uffff":
        try:
            value = orjson.loads(text)
            if (
                type(value) is dict
                and orjson.dumps(value, option=_SORTED) == text.encode()
                and not _has_float(value)
            ):
                return None
        except (orjson.JSONDecodeError, orjson.JSONEncodeError):
            pass
    # The common case, checked with the C scanner and encoder alone: an object without floats
    # or long integers (where the fast encoder may differ from RFC 8785) that the encoder
    # writes back exactly as stored.
    try:
        value, end = _plain_scan(text, 0)
        if (
            end == len(text)
            and type(value) is dict
            and _plain_dumps(value) == text
            and (text.isascii() or max(text) <= "\uffff")
        ):
            return None
    except (_Inexact, StopIteration, ValueError, RecursionError):
        pass
    return _payload_problem(text)


def _has_float(value: Any) -> bool:
    """Whether a parsed JSON value holds a float anywhere."""
    pending = [value]
    while pending:
        item = pending.pop()
        kind = type(item)
        if kind is dict:
            pending.extend(item.values())
        elif kind is list:
            pending.extend(item)
        elif kind is float:
            return True
    return False


def _payload_problem(text: str) -> str | None:
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        return "its payload is not JSON"
    if type(value) is not dict:
        return f"its payload is a JSON {type(value).__name__}, not an object"
    try:
        if canonical_json(value) != text.encode("utf-8"):
            return "its payload is not in canonical JSON form"
    except (ValueError, RecursionError, NotCanonicalisable) as exc:
        return f"its payload has no canonical JSON form ({exc})"
    return None


def shown(value: object) -> str:
    """`repr` of a stored value, cut short for a message."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _string(value: str | None) -> str:
    # JSON string escaping in ensure_ascii=False mode is exactly RFC 8785's for valid Unicode.
    return "null" if value is None else _encode_string(value)


def record_bytes(
    *,
    seq: int,
    time: str,
    kind: str,
    actor: str,
    subject: str,
    source: str | None,
    commit: str | None,
    payload_json: str,
    prev_hash: str,
) -> bytes:
    """Canonical JSON of the record, with keys in RFC 8785 order."""
    return (
        f'{{"actor":{_string(actor)},"commit":{_string(commit)},"kind":{_string(kind)},'
        f'"payload":{payload_json},"prev_hash":{_string(prev_hash)},"seq":{seq},'
        f'"source":{_string(source)},"subject":{_string(subject)},"time":{_string(time)}}}'
    ).encode()


def record_hash(
    *,
    seq: int,
    time: str,
    kind: str,
    actor: str,
    subject: str,
    source: str | None,
    commit: str | None,
    payload_json: str,
    prev_hash: str,
) -> str:
    """Hex SHA-256 of `record_bytes`."""
    return hashlib.sha256(
        record_bytes(
            seq=seq,
            time=time,
            kind=kind,
            actor=actor,
            subject=subject,
            source=source,
            commit=commit,
            payload_json=payload_json,
            prev_hash=prev_hash,
        )
    ).hexdigest()
