"""The verdict: tampered beats everything, and nothing uncovered or unchecked is verified."""

from __future__ import annotations

from datetime import UTC, datetime

from gatekeeper.audit.store import Checkpoint
from gatekeeper.audit.verify import Finding, VerifyReport
from gatekeeper.report.integrity import Coverage, SeqRange, assess

KEY = "ed25519:" + "0" * 32


def checkpoint(seq: int, id_: int = 1) -> Checkpoint:
    return Checkpoint(
        id=id_,
        seq=seq,
        head_hash="h" * 64,
        time=datetime(2026, 11, 1, tzinfo=UTC),
        key_id=KEY,
        signature="sig",
    )


def verification(head: int, findings: list[Finding] | None = None) -> VerifyReport:
    return VerifyReport(
        records=head,
        head_seq=head,
        head_hash="h" * 64,
        checkpoints=1,
        last_checkpoint_seq=6,
        findings=findings or [],
    )


def test_coverage_finds_the_first_checkpoint_at_or_after_a_record() -> None:
    coverage = Coverage([checkpoint(10, 2), checkpoint(4, 1)])
    assert [getattr(coverage.covering(seq), "seq", None) for seq in (1, 4, 5, 10, 11)] == [
        4,
        4,
        10,
        10,
        None,
    ]
    assert [c.seq for c in coverage.between(4, 9)] == [4]
    assert coverage.last_seq == 10


def test_everything_covered_with_a_key_is_verified() -> None:
    integrity = assess(
        verification(6),
        coverage=Coverage([checkpoint(6)]),
        public_key_id=KEY,
        period=SeqRange(6, 1, 6),
        uncovered_period=SeqRange(),
    )
    assert integrity.status == "verified" and integrity.verified
    assert integrity.covering_checkpoint is not None and integrity.uncovered_log.count == 0
    assert integrity.headline().startswith("Verified: 6 records")


def test_uncovered_records_of_the_period_make_it_not_verified() -> None:
    integrity = assess(
        verification(9),
        coverage=Coverage([checkpoint(6)]),
        public_key_id=KEY,
        period=SeqRange(4, 5, 9),
        uncovered_period=SeqRange(3, 7, 9),
    )
    assert integrity.status == "not-verified"
    assert integrity.uncovered_log == SeqRange(3, 7, 9)
    assert integrity.covering_checkpoint is None
    assert "3 record(s), seq 7..9" in integrity.headline()


def test_no_key_is_not_verified_and_tampering_wins_over_everything() -> None:
    unchecked = assess(
        verification(6),
        coverage=Coverage([checkpoint(6)]),
        public_key_id=None,
        period=SeqRange(6, 1, 6),
        uncovered_period=SeqRange(),
    )
    assert unchecked.status == "not-verified"
    tampered = assess(
        verification(6, [Finding("hash_mismatch", 3, "record 3 was changed")]),
        coverage=Coverage([]),
        public_key_id=None,
        period=SeqRange(6, 1, 6),
        uncovered_period=SeqRange(6, 1, 6),
    )
    assert tampered.status == "tampered" and tampered.tampered
    assert tampered.first_bad_seq == 3
    assert tampered.as_json()["findings"] == ["hash_mismatch at 3: record 3 was changed"]
