"""Streamed exports of records: NDJSON and CSV that state their filters and integrity."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable, Iterator
from typing import Any, Final

from gatekeeper.audit.events import Record
from gatekeeper.dashboard.filters import Filters
from gatekeeper.dashboard.integrity import IntegrityState
from gatekeeper.dashboard.queries import record_json
from gatekeeper.report.tabular import defuse

NDJSON: Final = "application/x-ndjson"
CSV: Final = "text/csv"
CSV_COLUMNS: Final = (
    "seq",
    "time",
    "kind",
    "actor",
    "subject",
    "source",
    "commit",
    "payload",
    "prev_hash",
    "hash",
    "verified",
)
_FLUSH_ROWS: Final = 500


def wanted_format(accept: str | None, explicit: str | None) -> str:
    """json, ndjson or csv, from `?format=` or else the Accept header."""
    if explicit is not None:
        return explicit
    accept = (accept or "").lower()
    if NDJSON in accept:
        return "ndjson"
    if CSV in accept:
        return "csv"
    return "json"


def _preamble(filters: Filters, integrity: IntegrityState) -> dict[str, Any]:
    return {
        "filters": filters.as_json(),
        "integrity": {
            "status": integrity.status,
            "covered_upto": integrity.covered_upto,
            "checked_at": None
            if integrity.checked_at is None
            else integrity.checked_at.isoformat().replace("+00:00", "Z"),
        },
    }


def ndjson_lines(
    records: Iterable[Record], filters: Filters, integrity: IntegrityState
) -> Iterator[bytes]:
    """One JSON object per line: first the filters and integrity, then each record."""
    yield (json.dumps({"export": _preamble(filters, integrity)}) + "\n").encode()
    batch: list[str] = []
    for record in records:
        batch.append(json.dumps(record_json(record, integrity), ensure_ascii=False))
        if len(batch) >= _FLUSH_ROWS:
            yield ("\n".join(batch) + "\n").encode()
            batch = []
    if batch:
        yield ("\n".join(batch) + "\n").encode()


def csv_lines(
    records: Iterable[Record], filters: Filters, integrity: IntegrityState
) -> Iterator[bytes]:
    """A CSV whose leading `#` lines state the filters and the integrity it was made under."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    preamble = _preamble(filters, integrity)
    # One quoted cell a line, starting with `#`: a filter value can never become a cell of
    # its own (a formula) in a spreadsheet.
    for name in ("filters", "integrity"):
        writer.writerow([f"# {name}: {json.dumps(preamble[name], sort_keys=True)}"])
    writer.writerow(CSV_COLUMNS)
    for rows, record in enumerate(records, start=1):
        data = record_json(record, integrity)
        data["payload"] = json.dumps(data["payload"], sort_keys=True, ensure_ascii=False)
        writer.writerow([defuse(data[column]) for column in CSV_COLUMNS])
        if rows % _FLUSH_ROWS == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode("utf-8")
