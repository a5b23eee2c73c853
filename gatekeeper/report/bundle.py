"""Evidence bundles: a period's records, checkpoints and reports in one signed zip.

Layout (DESIGN section 12; docs/evidence.md):

- `events.ndjson`: every record from the first record the filters select to the checkpoint
  that covers the last one (or to the last one when none does yet), one JSON object a line,
  whole: payload, `prev_hash`, `hash`. The span is contiguous, records of other sources
  included, because the chain links through them.
- `checkpoints.json`: the checkpoints signed inside that span.
- `report.json`, `report.csv`, `report.html`, `report.pdf`: the report over the filters;
  the CSV is the appendix the HTML and PDF name.
- `public-key.pem`: the audit signing key's public half.
- `MANIFEST.json`: SHA-256 and size of each file above, the filters, the span; and
  `MANIFEST.sig`, its detached signature (the format of `gatekeeper.report.signing`).

`verify_bundle` checks one with no database and no network.
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization

from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.report.bundlecheck import (
    BUNDLE_FILES,
    BUNDLE_TYPE,
    MANIFEST,
    MANIFEST_SIG,
    BundleCheck,
    verify_bundle,
)
from gatekeeper.report.filters import ReportFilters, iso
from gatekeeper.report.integrity import checkpoint_json
from gatekeeper.report.model import ROW_LIMIT, Report, Sink, build_report
from gatekeeper.report.reader import payload_json
from gatekeeper.report.render import Format, write
from gatekeeper.report.signing import DigestWriter, sign_bytes

__all__ = ["BundleCheck", "BundleSummary", "verify_bundle", "write_bundle"]

_encode_string = json.encoder.encode_basestring


@dataclass(frozen=True)
class BundleSummary:
    """What `write_bundle` wrote: the report inside, the record span, the manifest's digest."""

    path: Path
    report: Report
    first_seq: int | None
    last_seq: int | None
    records: int
    checkpoints: int
    key_id: str
    manifest_sha256: str


def write_bundle(
    store: AuditStore,
    filters: ReportFilters,
    path: Path,
    *,
    signer: Signer,
    verifier: Verifier | None,
    row_limit: int = ROW_LIMIT,
    font_dir: Path | None = None,
    now: datetime | None = None,
    workers: int = 1,
) -> BundleSummary:
    """Write the evidence bundle for `filters` to `path` (replaced only once complete).

    `signer` signs the manifest and is named in the reports; `verifier` checks the log's
    checkpoints while the report is built (None: the report says "not verified").
    """
    report = build_report(
        store,
        filters,
        verifier=verifier,
        signing_key_id=signer.key_id,
        row_limit=row_limit,
        appendix="report.csv",
        now=now,
        workers=workers,
    )
    first = report.period.first
    covering = report.integrity.covering_checkpoint
    last = covering.seq if covering is not None else report.period.last
    checkpoints = [] if first is None or last is None else report.coverage.between(first, last)
    files: dict[str, dict[str, Any]] = {}
    counted = {"records": 0}

    def events(out: Sink) -> None:
        if first is not None and last is not None:
            counted["records"] = _write_events(store.iter_raw(first=first, last=last), out)

    writers: dict[str, Callable[[Sink], object]] = {
        "events.ndjson": events,
        "checkpoints.json": lambda out: out.write(
            _json_bytes([checkpoint_json(checkpoint) for checkpoint in checkpoints])
        ),
        "public-key.pem": lambda out: out.write(
            signer.public_key.public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        ),
    }
    for fmt in ("json", "csv", "html", "pdf"):
        writers[f"report.{fmt}"] = _report_writer(report, fmt, font_dir)
    assert tuple(sorted(writers)) == tuple(sorted(BUNDLE_FILES))
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, temporary = tempfile.mkstemp(prefix=".bundle-", dir=path.parent)
    os.close(descriptor)
    try:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED, compresslevel=1) as archive:
            for name in BUNDLE_FILES:
                with archive.open(name, "w", force_zip64=True) as entry:
                    digest = DigestWriter(entry)
                    writers[name](digest)
                files[name] = {"sha256": digest.sha256, "size": digest.size}
            manifest = _json_bytes(
                {
                    "type": BUNDLE_TYPE,
                    "generator": report.generator,
                    "created_at": iso(report.generated_at),
                    "key_id": signer.key_id,
                    "filters": filters.as_json(),
                    "integrity": report.integrity.status,
                    "report_records": report.period.as_json(),
                    "records": {
                        "count": counted["records"],
                        "first_seq": first,
                        "last_seq": last if counted["records"] else None,
                    },
                    "checkpoints": len(checkpoints),
                    "files": files,
                }
            )
            archive.writestr(MANIFEST, manifest)
            signature = sign_bytes(manifest, signer, now=now or datetime.now(UTC))
            archive.writestr(MANIFEST_SIG, signature.to_bytes())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return BundleSummary(
        path=path,
        report=report,
        first_seq=first,
        last_seq=last if counted["records"] else None,
        records=counted["records"],
        checkpoints=len(checkpoints),
        key_id=signer.key_id,
        manifest_sha256=signature.sha256,
    )


def _report_writer(report: Report, fmt: Format, font_dir: Path | None) -> Callable[[Sink], object]:
    return lambda out: write(report, fmt, out, font_dir=font_dir)


def _write_events(rows: Iterable[tuple[Any, ...]], out: Sink) -> int:
    """Stored rows as NDJSON lines; each payload as the JSON text of one object
    (`payload_json`), so no row can add keys or lines; `CorruptRecord` for one that is not."""
    count, lines = 0, []
    for seq, time, kind, actor, subject, source, commit, payload, prev_hash, digest in rows:
        lines.append(
            f'{{"seq":{int(seq)},"time":{_string(time)},"kind":{_string(kind)},'
            f'"actor":{_string(actor)},"subject":{_string(subject)},'
            f'"source":{_string(source)},"commit":{_string(commit)},'
            f'"payload":{payload_json(seq, payload)},'
            f'"prev_hash":{_string(prev_hash)},"hash":{_string(digest)}}}\n'
        )
        count += 1
        if len(lines) >= 1000:
            out.write("".join(lines).encode("utf-8"))
            lines = []
    out.write("".join(lines).encode("utf-8"))
    return count


def _string(value: str | None) -> str:
    return "null" if value is None else str(_encode_string(value))


def _json_bytes(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
