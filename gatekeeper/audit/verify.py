"""Verification: recompute the whole chain and check every checkpoint's signature."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Literal

from gatekeeper.audit import chain
from gatekeeper.audit.events import GENESIS_HASH
from gatekeeper.audit.signing import Verifier, checkpoint_message
from gatekeeper.audit.store import AuditStore, Checkpoint

Problem = Literal[
    "missing_record",
    "unexpected_record",
    "broken_link",
    "hash_mismatch",
    "truncated",
    "checkpoint_mismatch",
    "bad_signature",
    "unknown_key",
]


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the log, at a sequence number."""

    problem: Problem
    seq: int
    detail: str


@dataclass(frozen=True)
class VerifyReport:
    """What verification found; `ok` only when nothing was found."""

    records: int
    head_seq: int
    head_hash: str
    checkpoints: int
    last_checkpoint_seq: int | None
    findings: list[Finding] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first_bad_seq(self) -> int | None:
        return min((finding.seq for finding in self.findings), default=None)

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "records": self.records,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "checkpoints": self.checkpoints,
            "last_checkpoint_seq": self.last_checkpoint_seq,
            "first_bad_seq": self.first_bad_seq,
            "findings": [
                {"problem": f.problem, "seq": f.seq, "detail": f.detail} for f in self.findings
            ],
        }


RawRow = tuple[Any, ...]


def check_chain(rows: Iterable[RawRow]) -> tuple[int, int, str, dict[int, str], list[Finding]]:
    """Walk rows in sequence order; return (count, head seq, head hash, hashes, findings).

    Each record must follow its predecessor by exactly one, link to its hash, and hash to what
    it says. After a break the walk resynchronises on the stored hashes, so one edit yields
    one finding, not one per later record.
    """
    findings: list[Finding] = []
    hashes: dict[int, str] = {}
    expected_seq, prev_hash, count = 1, GENESIS_HASH, 0
    sha256 = hashlib.sha256
    record_bytes = chain.record_bytes
    for seq, time, kind, actor, subject, source, commit, payload, stored_prev, stored_hash in rows:
        count += 1
        time_text = time if isinstance(time, str) else chain.format_time(time)
        if seq != expected_seq:
            if seq > expected_seq:
                missing = (
                    f"{expected_seq}" if seq == expected_seq + 1 else (f"{expected_seq}..{seq - 1}")
                )
                findings.append(
                    Finding("missing_record", expected_seq, f"record(s) {missing} are missing")
                )
            else:
                findings.append(
                    Finding("unexpected_record", seq, f"record {seq} appears out of order")
                )
        if stored_prev != prev_hash:
            findings.append(
                Finding(
                    "broken_link",
                    seq,
                    f"record {seq} links to {stored_prev[:16]}..., "
                    f"but the previous record's hash is {prev_hash[:16]}...",
                )
            )
        computed = sha256(
            record_bytes(
                seq=seq,
                time=time_text,
                kind=kind,
                actor=actor,
                subject=subject,
                source=source,
                commit=commit,
                payload_json=payload,
                prev_hash=stored_prev,
            )
        ).hexdigest()
        if computed != stored_hash:
            findings.append(
                Finding("hash_mismatch", seq, f"record {seq} was changed after it was written")
            )
        hashes[seq] = stored_hash
        prev_hash, expected_seq = stored_hash, seq + 1
    return count, expected_seq - 1, prev_hash, hashes, findings


def check_checkpoints(
    checkpoints: Iterable[Checkpoint],
    hashes: dict[int, str],
    head_seq: int,
    verifier: Verifier | None,
) -> list[Finding]:
    """Each checkpoint must be signed by the known key and match the chain at its seq."""
    findings: list[Finding] = []
    for checkpoint in checkpoints:
        message = checkpoint_message(
            seq=checkpoint.seq,
            head_hash=checkpoint.head_hash,
            time=chain.format_time(checkpoint.time),
            key=checkpoint.key_id,
        )
        if verifier is not None:
            if checkpoint.key_id != verifier.key_id:
                findings.append(
                    Finding(
                        "unknown_key",
                        checkpoint.seq,
                        f"checkpoint {checkpoint.id} names key {checkpoint.key_id}, "
                        f"not the configured {verifier.key_id}",
                    )
                )
            elif not verifier.is_valid(message, checkpoint.signature):
                findings.append(
                    Finding(
                        "bad_signature",
                        checkpoint.seq,
                        f"checkpoint {checkpoint.id} has a signature that does not verify",
                    )
                )
        if checkpoint.seq > head_seq:
            findings.append(
                Finding(
                    "truncated",
                    head_seq + 1,
                    f"checkpoint {checkpoint.id} covers {checkpoint.seq} records, "
                    f"the log ends at {head_seq}",
                )
            )
        elif checkpoint.seq > 0 and hashes.get(checkpoint.seq) != checkpoint.head_hash:
            findings.append(
                Finding(
                    "checkpoint_mismatch",
                    checkpoint.seq,
                    f"checkpoint {checkpoint.id} signed a different hash for record "
                    f"{checkpoint.seq}",
                )
            )
    return findings


def verify_store(store: AuditStore, verifier: Verifier | None) -> VerifyReport:
    """Recompute everything the store holds."""
    count, head_seq, head_hash, hashes, findings = check_chain(store.iter_raw())
    checkpoints = store.checkpoints()
    findings += check_checkpoints(checkpoints, hashes, head_seq, verifier)
    findings.sort(key=lambda finding: finding.seq)
    return VerifyReport(
        records=count,
        head_seq=head_seq,
        head_hash=head_hash,
        checkpoints=len(checkpoints),
        last_checkpoint_seq=checkpoints[-1].seq if checkpoints else None,
        findings=findings,
    )


def iter_text(report: VerifyReport) -> Iterator[str]:
    """Human-readable lines of a report."""
    yield f"records: {report.records} (head {report.head_seq}, {report.head_hash[:16]}...)"
    yield f"checkpoints: {report.checkpoints}" + (
        f" (last covers {report.last_checkpoint_seq})" if report.checkpoints else ""
    )
    for finding in report.findings:
        yield f"{finding.problem} at {finding.seq}: {finding.detail}"
