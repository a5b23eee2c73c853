"""Streamed exports of records: NDJSON and CSV that state their filters and integrity."""

from __future__ import annotations

import csv
import io
import json
import logging
from collections.abc import Callable, Iterable, Iterator
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

log = logging.getLogger(__name__)


class ExportCut(Exception):
    """An export failed after its first bytes were sent: raised out of the response body so
    that the server ends the transfer without the chunked body's last chunk, which the client
    then sees as an incomplete response, never as a complete, shorter file."""


def _guarded(lines: Iterator[bytes], last_words: Callable[[str], bytes]) -> Iterator[bytes]:
    """`lines`, and when they fail, one line saying so (for a reader of what did arrive)
    before the transfer is aborted."""
    try:
        yield from lines
    except Exception as exc:
        reason = str(exc) or type(exc).__name__
        log.warning("export cut short: %s", reason)
        yield last_words(f"export cut short, records are missing: {reason}")
        raise ExportCut(reason) from exc


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
    """One JSON object per line: first the filters and integrity, then each record.

    An error while streaming ends it with an `{"error": ...}` line and `ExportCut`.
    """
    return _guarded(
        _ndjson_lines(records, filters, integrity),
        lambda reason: (json.dumps({"error": reason}) + "\n").encode(),
    )


def _ndjson_lines(
    records: Iterable[Record], filters: Filters, integrity: IntegrityState
) -> Iterator[bytes]:
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
    """A CSV whose leading `#` lines state the filters and the integrity it was made under.

    An error while streaming ends it with a `# error: ...` line and `ExportCut`.
    """
    return _guarded(
        _csv_lines(records, filters, integrity),
        lambda reason: _csv_row([f"# error: {reason}"]),
    )


def _csv_row(cells: list[str]) -> bytes:
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerow(cells)
    return buffer.getvalue().encode("utf-8")


def _csv_lines(
    records: Iterable[Record], filters: Filters, integrity: IntegrityState
) -> Iterator[bytes]:
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
