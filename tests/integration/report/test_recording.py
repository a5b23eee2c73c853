"""Reports made are recorded; a report never signs a checkpoint over records it found uncovered."""

from __future__ import annotations

from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.signing import Signer
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.witness import FolderWitness
from gatekeeper.report import recording
from gatekeeper.report.filters import ReportFilters


def _made(store: AuditStore, signer: Signer) -> int:
    event = recording.generated(
        what="report",
        ident="20261202T000000Z-00000000",
        actor="ann",
        via="cli",
        filters=ReportFilters(source="apps"),
        records=1,
        integrity="verified",
        key_id=signer.key_id,
        files={"report.pdf": {"sha256": "0" * 64}},
    )
    return recording.record_made(store, event, signer).seq


def test_a_report_on_a_covered_log_is_recorded_and_covered_at_once(store: AuditStore) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    store.append(NewEvent(kind="sync.applied", actor="gatekeeper", source="apps"))
    store.checkpoint(signer)
    seq = _made(store, signer)
    record = store.get(seq)
    assert record is not None and record.kind == "report.generated"
    assert record.payload["files"]["report.pdf"]["sha256"] == "0" * 64
    assert record.payload["filters"]["source"] == "apps"
    last = store.last_checkpoint()
    assert last is not None and last.seq == seq


def test_a_report_never_vouches_for_records_nobody_had_covered(store: AuditStore) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    store.append(NewEvent(kind="sync.applied", actor="gatekeeper", source="apps"))
    store.checkpoint(signer)
    store.append(NewEvent(kind="sync.applied", actor="mallory", source="apps", commit="de" * 20))
    _made(store, signer)
    last = store.last_checkpoint()
    assert last is not None and last.seq == 1


def test_the_checkpoint_after_a_report_reaches_the_witness(
    store: AuditStore, tmp_path: Path
) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    store.append(NewEvent(kind="sync.applied", actor="gatekeeper", source="apps"))
    store.checkpoint(signer)
    witness = FolderWitness(tmp_path / "witness")
    event = recording.generated(
        what="bundle",
        ident="20261202T000000Z-00000001",
        actor="ann",
        via="dashboard",
        filters=ReportFilters(),
        records=1,
        integrity="verified",
        key_id=signer.key_id,
        files={},
    )
    recording.record_made(store, event, signer, witness)
    held = witness.read().checkpoints
    assert [c.seq for c in held] == [2]
