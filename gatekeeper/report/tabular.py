"""The complete renderings, streamed record by record: JSON (with payloads) and CSV."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from gatekeeper.audit import chain
from gatekeeper.report.model import Report, Sink, summary_of
from gatekeeper.report.reader import Entry

CSV_COLUMNS = (
    "seq",
    "time",
    "kind",
    "actor",
    "subject",
    "source",
    "commit",
    "summary",
    "prev_hash",
    "hash",
    "checkpoint",
)
_FLUSH_BYTES = 1 << 16
_encode_string = json.encoder.encode_basestring


def write_json(report: Report, out: Sink) -> None:
    """The report as one JSON object: the header first, then `events`, every record whole
    (payload, `prev_hash`, `hash`), in sequence order."""
    header = json.dumps(report.header_json(), indent=2, ensure_ascii=False)
    out.write(header[: header.rindex("}")].rstrip().encode("utf-8") + b',\n  "events": [')
    buffer: list[str] = []
    size, separator = 0, "\n    "
    for entry in report.iter_records():
        text = separator + _event_json(entry, report)
        separator = ",\n    "
        buffer.append(text)
        size += len(text)
        if size >= _FLUSH_BYTES:
            out.write("".join(buffer).encode("utf-8"))
            buffer, size = [], 0
    buffer.append("\n  ]\n}\n" if report.period.count else "]\n}\n")
    out.write("".join(buffer).encode("utf-8"))


def _event_json(entry: Entry, report: Report) -> str:
    """One event: the stored fields as they were hashed (the payload as `iter_period` gives
    it, the JSON text of one object), its section and the checkpoint covering it."""
    section = report.section_of(entry.kind)
    checkpoint = report.checkpoint_of(entry.seq)
    return (
        f'{{"seq":{entry.seq},"time":{_string(entry.time)},"kind":{_string(entry.kind)},'
        f'"actor":{_string(entry.actor)},"subject":{_string(entry.subject)},'
        f'"source":{_string(entry.source)},"commit":{_string(entry.commit)},'
        f'"payload":{entry.payload},"prev_hash":{_string(entry.prev_hash)},'
        f'"hash":{_string(entry.hash)},"section":{_string(section)},'
        f'"checkpoint":{"null" if checkpoint is None else checkpoint}}}'
    )


def _string(value: str | None) -> str:
    return "null" if value is None else str(_encode_string(value))


def csv_preamble(report: Report) -> Iterator[str]:
    """The comment lines a CSV starts with: verdict, chain head, checkpoint, filters, signature.

    Each is written as one CSV cell starting with `# ` (quoted when it holds a comma or a
    quote): a spreadsheet shows them as the first rows, a `csv` reader skips the rows whose
    first cell starts with `#`.
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
    writer = csv.writer(buffer, lineterminator="\n")
    # One cell a line: a filter value (free text) can never become a cell of its own, a
    # formula, in a spreadsheet.
    for line in csv_preamble(report):
        writer.writerow([defuse("# " + " ".join(line.splitlines()))])
    writer.writerow(CSV_COLUMNS)
    for entry in report.iter_records():
        checkpoint = report.checkpoint_of(entry.seq)
        writer.writerow(
            (
                entry.seq,
                entry.time,
                defuse(entry.kind),
                defuse(entry.actor),
                defuse(entry.subject),
                defuse(entry.source),
                defuse(entry.commit),
                defuse(summary_of(entry)),
                entry.prev_hash,
                entry.hash,
                "not covered" if checkpoint is None else checkpoint,
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
