"""The records a report covers, read from the store as raw rows: fast, and in constant memory.

`AuditStore.query` turns every row into a `Record` (a parsed time, a parsed payload): about
100 µs a row, 10 s for 100,000. A report needs neither for most rows, so it finds the first
and last matching sequence numbers with two indexed queries, walks that range with
`AuditStore.iter_raw` (the exact stored text, as verification reads it) and applies the
filters here, with the same meaning as the store's. Namespace and object kind are read from
each record's hashed subject, never from the unhashed index columns the store keeps for them.

Every payload a report or bundle writes goes through `payload_json`: parsed and written
again, so that whatever text a row holds, it is one JSON object in the output and nothing
more (a row edited to hold `{}}],"integrity":...` cannot add keys to the report around it).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any, NamedTuple

from gatekeeper.audit import chain
from gatekeeper.audit.errors import CorruptRecord
from gatekeeper.audit.store import AuditStore
from gatekeeper.canonical import NotCanonicalisable
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.report.filters import ReportFilters


class Entry(NamedTuple):
    """One stored record as text: `time` is the hashed `2026-11-01T00:00:00.000000Z` form and
    `payload` the canonical JSON it is stored as."""

    seq: int
    time: str
    kind: str
    actor: str
    subject: str
    source: str | None
    commit: str | None
    payload: str
    prev_hash: str
    hash: str


def iter_period(
    store: AuditStore, filters: ReportFilters, *, upto: int | None = None
) -> Iterator[Entry]:
    """The records `filters` select with `seq <= upto`, in sequence order."""
    bounds = seq_bounds(store, filters, upto=upto)
    if bounds is None:
        return
    first, last = bounds
    matches = _matcher(filters)
    for row in store.iter_raw(first=first, last=last):
        entry = Entry._make(row)
        if matches(entry):
            yield entry._replace(payload=payload_json(entry.seq, entry.payload))


def payload_json(seq: int, payload: object) -> str:
    """A stored payload as the JSON text of one object: the canonical text it is stored as,
    written again from what it parses to. `CorruptRecord` when it is not a JSON object.

    Stored payloads are canonical (RFC 8785) and come back unchanged; one edited outside the
    store is re-serialised, canonically when it has a canonical form, else as sorted ASCII.
    """
    if chain.payload_problem(payload) is None:
        return str(payload)
    problem = "its payload is not JSON"
    try:
        value = json.loads(payload, parse_constant=_refuse)  # type: ignore[arg-type]
    except (ValueError, TypeError, RecursionError):
        value = None
    else:
        problem = f"its payload is a JSON {type(value).__name__}, not an object"
    if type(value) is dict:
        try:
            return chain.canonical_payload(value)
        except (NotCanonicalisable, RecursionError):
            pass
        try:
            # No canonical form (an integer beyond 2^53, a lone surrogate): ASCII JSON.
            return json.dumps(value, separators=(",", ":"), sort_keys=True)
        except (ValueError, RecursionError):
            problem = "its payload has no JSON form"
    raise CorruptRecord(f"record {seq} is damaged: {problem}", seq=seq)


def _refuse(constant: str) -> Any:
    raise ValueError(f"{constant} is not JSON")


def seq_bounds(
    store: AuditStore, filters: ReportFilters, *, upto: int | None = None
) -> tuple[int, int] | None:
    """Sequence numbers no record `filters` select lies outside of (none above `upto`).

    Found with the filters on hashed fields only: namespace and object kind are index
    columns outside the record's hash, which someone who can write the database could move
    a record out of without the chain noticing; the matcher decides them from the subject.
    """
    arguments = filters.query_arguments() | {"namespace": None, "object_kind": None}
    first = store.query(**arguments, limit=1).records
    if not first:
        return None
    after = None if upto is None else upto + 1
    last = store.query(**arguments, after=after, order="desc", limit=1).records
    if not last or last[0].seq < first[0].seq:
        return None
    return first[0].seq, last[0].seq


def _matcher(filters: ReportFilters) -> Callable[[Entry], bool]:
    since = None if filters.since is None else chain.format_time(filters.since)
    until = None if filters.until is None else chain.format_time(filters.until)
    kinds = frozenset(filters.kinds)
    equal = [
        (index, value)
        for index, value in (
            (Entry._fields.index("source"), filters.source),
            (Entry._fields.index("actor"), filters.actor),
            (Entry._fields.index("commit"), filters.commit),
        )
        if value is not None
    ]
    namespace, object_kind = filters.namespace, filters.object_kind

    def matches(entry: Entry) -> bool:
        # Fixed-width UTC text sorts as time does.
        if since is not None and entry.time < since:
            return False
        if until is not None and entry.time >= until:
            return False
        if kinds and entry.kind not in kinds:
            return False
        for index, value in equal:
            if entry[index] != value:
                return False
        if namespace is not None or object_kind is not None:
            key = ObjectKey.parse(entry.subject)
            if key is None:
                return False
            if namespace is not None and key.namespace != namespace:
                return False
            if object_kind is not None and key.kind != object_kind:
                return False
        return True

    return matches
