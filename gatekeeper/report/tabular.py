"""The complete renderings, streamed record by record: JSON (with payloads) and CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from gatekeeper.audit import chain
from gatekeeper.audit.events import Record
from gatekeeper.report.model import Report, Sink, row_of

CSV_COLUMNS = (
    "seq",
    "time",
    "kind",
    "actor",
    "subject",
    "source",
    "commit",
    "summary",
    "payload",
    "prev_hash",
    "hash",
    "checkpoint",
)
_FLUSH_BYTES = 1 << 16


def write_json(report: Report, out: Sink) -> None:
    """The report as one JSON object: the header first, then `events`, every record whole
    (payload, `prev_hash`, `hash`), in sequence order."""
    header = json.dumps(report.header_json(), indent=2, ensure_ascii=False)
    out.write(header[: header.rindex("}")].rstrip().encode("utf-8") + b',\n  "events": [')
    buffer: list[str] = []
    size, separator = 0, "\n    "
    for record in report.iter_records():
        text = separator + _event_json(record, report)
        separator = ",\n    "
        buffer.append(text)
        size += len(text)
        if size >= _FLUSH_BYTES:
            out.write("".join(buffer).encode("utf-8"))
            buffer, size = [], 0
    buffer.append("\n  ]\n}\n" if report.period.count else "]\n}\n")
    out.write("".join(buffer).encode("utf-8"))


def _event_json(record: Record, report: Report) -> str:
    return json.dumps(
        {
            "seq": record.seq,
            "time": chain.format_time(record.time),
            "kind": record.kind,
            "actor": record.actor,
            "subject": record.subject,
            "source": record.source,
            "commit": record.commit,
            "payload": record.payload,
            "prev_hash": record.prev_hash,
            "hash": record.hash,
            "section": report.section_of(record.kind),
            "checkpoint": report.checkpoint_of(record.seq),
        },
        ensure_ascii=False,
        separators=(",", ":"),
    )


def csv_preamble(report: Report) -> Iterator[str]:
    """The comment lines a CSV starts with: verdict, chain head, checkpoint, filters, signature.

    A spreadsheet shows them as the first rows; `csv` readers skip them with a filter on `#`.
    """
    integrity = report.integrity
    yield f"GitOps Gatekeeper compliance report, {report.generator}"
    yield f"generated_at: {chain.format_time(report.generated_at)}"
    yield f"integrity: {integrity.status}"
    yield f"verdict: {integrity.headline()}"
    for finding in integrity.findings:
        yield f"finding: {finding}"
    yield f"chain_head: seq {integrity.head_seq} hash {integrity.head_hash}"
    yield f"uncovered_in_log: {integrity.uncovered_log.describe()}"
    yield f"uncovered_in_report: {integrity.uncovered_period.describe()}"
    checkpoint = integrity.covering_checkpoint or integrity.last_checkpoint
    if checkpoint is None:
        yield "checkpoint: none"
    else:
        label = "covering_checkpoint" if integrity.covering_checkpoint else "last_checkpoint"
        yield (
            f"{label}: seq {checkpoint.seq} head {checkpoint.head_hash} time "
            f"{chain.format_time(checkpoint.time)} key {checkpoint.key_id} signature "
            f"{checkpoint.signature}"
        )
    for line in report.filters.describe():
        yield f"filter: {line}"
    yield f"events: {report.period.count}"
    for line in report.verification_steps():
        yield f"verify: {line}"


def write_csv(report: Report, out: Sink) -> None:
    """One line per record of the report, after the `#` preamble; cells a spreadsheet would
    run as formulas are prefixed with `'`."""
    buffer = io.StringIO()
    for line in csv_preamble(report):
        buffer.write("# " + " ".join(line.splitlines()) + "\n")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in report.iter_records():
        row = row_of(record, report)
        writer.writerow(
            (
                row.seq,
                chain.format_time(row.time),
                defuse(row.kind),
                defuse(row.actor),
                defuse(row.subject),
                defuse(row.source),
                defuse(row.commit),
                defuse(row.summary),
                chain.canonical_payload(record.payload),
                row.prev_hash,
                row.hash,
                "not covered" if row.checkpoint is None else row.checkpoint,
            )
        )
        if buffer.tell() >= _FLUSH_BYTES:
            out.write(buffer.getvalue().encode("utf-8"))
            buffer.seek(0)
            buffer.truncate()
    out.write(buffer.getvalue().encode("utf-8"))


def defuse(value: object) -> str:
    """A cell as text, with `'` before what a spreadsheet would evaluate as a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text
