"""The integrity verdict a report states: verified, not verified, or tampered, and why.

A record is covered when a checkpoint signed at its sequence number or later exists: that
signature commits to every record up to its own. Anyone who controls the database can append
well-formed records after the last checkpoint, so those are never called verified, and nor is
anything when no public key was there to check the signatures.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

from gatekeeper.audit import chain
from gatekeeper.audit.findings import FRESHNESS_PROBLEMS, LEDGER_PROBLEMS
from gatekeeper.audit.store import Checkpoint
from gatekeeper.audit.verify import VerifyReport

Status = Literal["verified", "not-verified", "tampered"]


@dataclass(frozen=True)
class SeqRange:
    """How many records, and the sequence numbers of the first and the last of them."""

    count: int = 0
    first: int | None = None
    last: int | None = None

    def describe(self) -> str:
        if not self.count:
            return "none"
        span = f"{self.first}" if self.first == self.last else f"{self.first}..{self.last}"
        return f"{self.count} record(s), seq {span}"

    def as_json(self) -> dict[str, Any]:
        return {"count": self.count, "first_seq": self.first, "last_seq": self.last}


class Coverage:
    """Which checkpoint covers a sequence number: the first one signed at it or after it."""

    def __init__(self, checkpoints: Sequence[Checkpoint]) -> None:
        ordered = sorted(checkpoints, key=lambda c: (c.seq, c.id))
        self._seqs = [checkpoint.seq for checkpoint in ordered]
        self._checkpoints = ordered

    @property
    def last_seq(self) -> int:
        """The highest covered sequence number; 0 before any checkpoint."""
        return self._seqs[-1] if self._seqs else 0

    def covering(self, seq: int) -> Checkpoint | None:
        index = bisect.bisect_left(self._seqs, seq)
        return self._checkpoints[index] if index < len(self._checkpoints) else None

    def last(self) -> Checkpoint | None:
        return self._checkpoints[-1] if self._checkpoints else None

    def between(self, first: int, last: int) -> list[Checkpoint]:
        """The checkpoints signed at `first <= seq <= last`, in order."""
        low = bisect.bisect_left(self._seqs, first)
        high = bisect.bisect_right(self._seqs, last)
        return self._checkpoints[low:high]


@dataclass(frozen=True)
class Integrity:
    """The whole log's verification, and what it means for the records a report covers."""

    status: Status
    reasons: tuple[str, ...]
    records: int
    head_seq: int
    head_hash: str
    checkpoints: int
    last_checkpoint: Checkpoint | None
    covering_checkpoint: Checkpoint | None
    public_key_id: str | None
    first_bad_seq: int | None
    findings: tuple[str, ...]
    uncovered_log: SeqRange
    uncovered_period: SeqRange

    @property
    def verified(self) -> bool:
        return self.status == "verified"

    @property
    def tampered(self) -> bool:
        return self.status == "tampered"

    def headline(self) -> str:
        """One sentence for the top of a report."""
        if self.status == "tampered" and self.first_bad_seq is None:
            return "TAMPERED: " + " ".join(self.reasons)
        if self.status == "tampered":
            return (
                f"TAMPERED: the audit log fails verification; first bad record "
                f"{self.first_bad_seq}."
            )
        if self.status == "not-verified":
            return "NOT VERIFIED: " + " ".join(self.reasons)
        return (
            f"Verified: {self.records} records, hash chain intact, {self.checkpoints} "
            f"checkpoint signature(s) valid, every record of this report covered by a "
            f"signed checkpoint."
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "ok": self.verified,
            "reasons": list(self.reasons),
            "records": self.records,
            "head": {"seq": self.head_seq, "hash": self.head_hash},
            "checkpoints": self.checkpoints,
            "last_checkpoint": checkpoint_json(self.last_checkpoint),
            "covering_checkpoint": checkpoint_json(self.covering_checkpoint),
            "public_key_id": self.public_key_id,
            "first_bad_seq": self.first_bad_seq,
            "findings": list(self.findings),
            "uncovered": {
                "log": self.uncovered_log.as_json(),
                "report": self.uncovered_period.as_json(),
            },
        }


def checkpoint_json(checkpoint: Checkpoint | None) -> dict[str, Any] | None:
    """A checkpoint as evidence: what it signed, when, with which key, and the signature."""
    if checkpoint is None:
        return None
    return {
        "id": checkpoint.id,
        "seq": checkpoint.seq,
        "head_hash": checkpoint.head_hash,
        "time": chain.format_time(checkpoint.time),
        "key_id": checkpoint.key_id,
        "signature": checkpoint.signature,
    }


def assess(
    verification: VerifyReport,
    *,
    coverage: Coverage,
    public_key_id: str | None,
    period: SeqRange,
    uncovered_period: SeqRange,
) -> Integrity:
    """The verdict for a report whose records span `period`, of which `uncovered_period`
    come after the last checkpoint."""
    head = verification.head_seq
    last_covered = min(coverage.last_seq, head)
    uncovered_log = (
        SeqRange(head - last_covered, last_covered + 1, head) if head > last_covered else SeqRange()
    )
    reasons: list[str] = []
    status: Status = "verified"
    if not verification.ok:
        status = "tampered"
        reasons.extend(_failures(verification))
    if verification.ledger is not None and verification.ledger.legacy:
        reasons.append(
            f"{verification.ledger.legacy} provenance ledger row(s) were written before the "
            "audit chain vouched for ledger rows: pinned at the upgrade, not verified."
        )
    if public_key_id is None:
        reasons.append(
            "No public key is configured (audit.publicKeyFile), so no checkpoint signature "
            "was checked."
        )
    if uncovered_period.count:
        reasons.append(
            f"{uncovered_period.describe()} of this report come after the last signed "
            "checkpoint: nothing yet vouches for them."
        )
    if status != "tampered" and reasons:
        status = "not-verified"
    covering = coverage.covering(period.last) if period.last is not None else None
    return Integrity(
        status=status,
        reasons=tuple(reasons),
        records=verification.records,
        head_seq=head,
        head_hash=verification.head_hash,
        checkpoints=verification.checkpoints,
        last_checkpoint=coverage.last(),
        covering_checkpoint=covering,
        public_key_id=public_key_id,
        first_bad_seq=verification.first_bad_seq,
        findings=tuple(f"{f.problem} at {f.seq}: {f.detail}" for f in verification.findings),
        uncovered_log=uncovered_log,
        uncovered_period=uncovered_period,
    )


def _failures(verification: VerifyReport) -> list[str]:
    """One reason per kind of failure: the chain, the checkpoints' freshness, the ledger."""
    findings = verification.findings
    reasons = []
    chain_findings = [f for f in findings if f.problem not in FRESHNESS_PROBLEMS | LEDGER_PROBLEMS]
    if chain_findings:
        reasons.append(
            f"the hash chain or its checkpoints fail verification ({len(chain_findings)} "
            f"finding(s), first at record {chain_findings[0].seq})."
        )
    stale = [f for f in findings if f.problem in FRESHNESS_PROBLEMS]
    if stale:
        reasons.append(
            f"Checkpoints are missing or stale: {stale[0].detail}. Deleting checkpoints "
            "is how a rewritten chain would be hidden."
        )
    ledger = [f for f in findings if f.problem in LEDGER_PROBLEMS]
    if ledger:
        reasons.append(
            f"The provenance ledger the webhook trusts fails verification ({len(ledger)} "
            f"row finding(s)); first: {ledger[0].detail}."
        )
    return reasons
