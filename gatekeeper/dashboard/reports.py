"""Reports and bundles made through the dashboard: written once, signed, kept, recorded.

Each report is built once and written in every format into its own folder under the reports
directory, each file signed beside it (`FILE.sig`) with the audit signing key. Every report or
bundle made is recorded in the audit chain as `report.generated` (who, filters, the SHA-256 of
each file), so the log itself says what evidence left it and when.
"""

from __future__ import annotations

import json
import re
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final

from gatekeeper.audit import chain, events
from gatekeeper.audit.events import Record
from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.witness import Witness
from gatekeeper.dashboard.auth import Principal
from gatekeeper.dashboard.errors import BadRequest, NotFoundError
from gatekeeper.report import recording
from gatekeeper.report.bundle import write_bundle
from gatekeeper.report.filters import ReportFilters
from gatekeeper.report.model import build_report
from gatekeeper.report.render import FORMATS, Format, write
from gatekeeper.report.signing import DigestWriter, sign_digest, signature_path

GENERATED: Final = events.REPORT_GENERATED
_ID: Final = re.compile(r"^[0-9]{8}T[0-9]{6}Z-[0-9a-f]{8}$")


@dataclass(frozen=True)
class Reports:
    """The folder made reports and bundles are kept in, and the store they are recorded in."""

    root: Path
    store: AuditStore
    signer: Signer | None
    verifier: Verifier | None
    witness: Witness | None = None

    def make_report(self, filters: ReportFilters, principal: Principal) -> dict[str, Any]:
        """Build the report once, write every format signed, record it; its description."""
        now = datetime.now(UTC)
        report_id = recording.new_id(now)
        folder = self.root / report_id
        partial = self.root / f".{report_id}.partial"
        partial.mkdir(parents=True)
        try:
            built = build_report(
                self.store,
                filters,
                verifier=self.verifier,
                signing_key_id=None if self.signer is None else self.signer.key_id,
                appendix="report.csv",
                now=now,
            )
            files = {fmt: self._write(partial, built, fmt) for fmt in FORMATS}
            partial.rename(folder)
        except BaseException:
            shutil.rmtree(partial, ignore_errors=True)
            raise
        description = {
            "id": report_id,
            "type": "report",
            "made_at": chain.format_time(now),
            "made_by": principal.user,
            "filters": filters.as_json(),
            "records": built.period.count,
            "integrity": built.integrity.status,
            "signed": self.signer is not None,
            "key_id": None if self.signer is None else self.signer.key_id,
            "files": files,
        }
        record = self._record(description, filters, principal)
        (folder / "report.meta.json").write_text(json.dumps(description, indent=2) + "\n")
        return {**description, "record": record.seq}

    def make_bundle(
        self, filters: ReportFilters, principal: Principal
    ) -> tuple[Path, dict[str, Any]]:
        """Write a signed evidence bundle and record it; the zip's path and its description."""
        if self.signer is None:
            raise BadRequest(
                "bundles are signed with the audit signing key: configure audit.signingKeyFile"
            )
        now = datetime.now(UTC)
        bundle_id = recording.new_id(now)
        folder = self.root / "bundles"
        folder.mkdir(parents=True, exist_ok=True)
        path = folder / f"{bundle_id}.zip"
        summary = write_bundle(
            self.store, filters, path, signer=self.signer, verifier=self.verifier, now=now
        )
        description = {
            "id": bundle_id,
            "type": "bundle",
            "made_at": chain.format_time(now),
            "made_by": principal.user,
            "filters": filters.as_json(),
            "records": summary.records,
            "integrity": summary.report.integrity.status,
            "signed": True,
            "key_id": summary.key_id,
            "files": {"MANIFEST.json": {"sha256": summary.manifest_sha256}},
        }
        record = self._record(description, filters, principal)
        return path, {**description, "record": record.seq}

    def file(self, report_id: str, fmt: Format) -> tuple[Path, Path | None]:
        """A made report's file in one format, and its signature file when there is one."""
        if not _ID.match(report_id):
            raise NotFoundError(f"there is no report {report_id!r}")
        path = self.root / report_id / f"report.{fmt}"
        if not path.is_file():
            raise NotFoundError(f"there is no report {report_id!r} here")
        signature = signature_path(path)
        return path, signature if signature.is_file() else None

    def _write(self, folder: Path, built: Any, fmt: Format) -> dict[str, Any]:
        path = folder / f"report.{fmt}"
        with path.open("wb") as handle:
            digest = DigestWriter(handle)
            write(built, fmt, digest)
        if self.signer is not None:
            signature = sign_digest(digest.sha256, digest.size, self.signer)
            signature_path(path).write_bytes(signature.to_bytes())
        return {"sha256": digest.sha256, "size": digest.size}

    def _record(
        self, description: dict[str, Any], filters: ReportFilters, principal: Principal
    ) -> Record:
        event = recording.generated(
            what=description["type"],
            ident=description["id"],
            actor=principal.user,
            via="dashboard",
            filters=filters,
            records=description["records"],
            integrity=description["integrity"],
            key_id=description["key_id"],
            files=description["files"],
            groups=principal.groups,
        )
        return recording.record_made(self.store, event, self.signer, self.witness)
