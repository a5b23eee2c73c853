"""Verification: recompute the whole chain, check every checkpoint's signature, and hold the
chain and its checkpoints against a witness's copies when one is given."""

from __future__ import annotations

import hashlib
import multiprocessing
import os
import threading
from collections.abc import Container, Iterable, Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from gatekeeper.audit import chain
from gatekeeper.audit.errors import CorruptRecord, SigningKeyError, WitnessError
from gatekeeper.audit.events import GENESIS_HASH
from gatekeeper.audit.findings import Finding
from gatekeeper.audit.freshness import Freshness, check_freshness
from gatekeeper.audit.ledger_check import LedgerSummary, check_ledger
from gatekeeper.audit.signing import Verifier, checkpoint_message
from gatekeeper.audit.store import AuditStore, Checkpoint, object_columns
from gatekeeper.audit.witness import WitnessCopy, same_checkpoint
from gatekeeper.audit.witness_coverage import WitnessCoverage, coverage_of

__all__ = [
    "Finding",
    "VerifyReport",
    "check_chain",
    "check_checkpoint_ids",
    "check_checkpoints",
    "check_witness",
    "iter_text",
    "verify_store",
]

PARALLEL_THRESHOLD = 100_000


@dataclass(frozen=True)
class VerifyReport:
    """What verification found; `ok` only when nothing was found."""

    records: int
    head_seq: int
    head_hash: str
    checkpoints: int
    last_checkpoint_seq: int | None
    findings: list[Finding] = field(default_factory=list)
    witness: WitnessCoverage | None = None
    ledger: LedgerSummary | None = None

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def uncovered(self) -> tuple[int, int] | None:
        """The records after the last checkpoint, first and last: nothing signed vouches for
        them yet (DESIGN section 12: never shown as verified)."""
        covered = self.last_checkpoint_seq or 0
        return (covered + 1, self.head_seq) if self.head_seq > covered else None

    @property
    def first_bad_seq(self) -> int | None:
        """The first record a finding names; ledger findings name rows instead."""
        return min((f.seq for f in self.findings if f.table is None), default=None)

    def summary(self) -> str:
        """What was found, in one line, the first finding first."""
        if not self.findings:
            return "nothing"
        count = f"{len(self.findings)} finding(s)"
        if self.first_bad_seq is not None:
            return f"first bad record {self.first_bad_seq} ({count})"
        first = self.findings[0]
        return f"{first.problem} at {first.table} row {first.row} ({count})"

    def as_json(self) -> dict[str, Any]:
        document = {
            "ok": self.ok,
            "records": self.records,
            "head_seq": self.head_seq,
            "head_hash": self.head_hash,
            "checkpoints": self.checkpoints,
            "last_checkpoint_seq": self.last_checkpoint_seq,
            "uncovered_range": None if self.uncovered is None else list(self.uncovered),
            "first_bad_seq": self.first_bad_seq,
            "findings": [_finding_json(f) for f in self.findings],
        }
        if self.witness is not None:
            document["witness"] = self.witness.as_json()
        if self.ledger is not None:
            document["ledger"] = self.ledger.as_json()
        return document


def _finding_json(finding: Finding) -> dict[str, Any]:
    document: dict[str, Any] = {
        "problem": finding.problem,
        "seq": finding.seq,
        "detail": finding.detail,
    }
    if finding.table is not None:
        document.update(table=finding.table, row=finding.row)
    return document


RawRow = tuple[Any, ...]


@dataclass(frozen=True)
class ChainWalk:
    """What one walk over consecutive rows found."""

    count: int
    first_prev: str | None
    last_seq: int
    last_hash: str
    kept: dict[int, str]
    findings: list[Finding]
    # Rows with an integer seq that were walked, those below 1 (outside the chain) included:
    # what the table must hold up to `last_seq`, or some row was never reached.
    numbered: int = 0


def check_chain(
    rows: Iterable[RawRow],
    *,
    start_seq: int = 1,
    start_prev: str | None = GENESIS_HASH,
    keep: Container[int] = (),
    objects: bool = False,
) -> ChainWalk:
    """Walk rows in sequence order, checking numbering, links and hashes.

    Each record must follow its predecessor by exactly one, link to its hash, and hash to what
    it says. After a break the walk resynchronises on the stored hashes, so one edit yields
    one finding, not one per later record. `start_prev=None` takes the first row's link on
    trust (a segment of a parallel walk; the caller checks the seam). Hashes of the sequence
    numbers in `keep` are returned for the checkpoint check. With `objects`, rows end with
    `obj_namespace` and `obj_kind` (`iter_raw(objects=True)`), which must be what the store
    derives from the subject: the filters by namespace and object kind select on them.
    """
    findings: list[Finding] = []
    kept: dict[int, str] = {}
    expected_seq, prev_hash, count, numbered = start_seq, start_prev, 0, 0
    first_prev: str | None = None
    sha256 = hashlib.sha256
    record_bytes = chain.record_bytes
    # DESIGN section 8 defines the hash over the record's canonical JSON: a row whose time or
    # payload text is not canonical hashes to what no independent verifier would compute.
    time_problem, payload_problem = chain.time_problem, chain.payload_problem
    for row in rows:
        if objects:
            (seq, time, kind, actor, subject, source, commit, payload, stored_prev, stored_hash) = (
                row[:10]
            )
        else:
            seq, time, kind, actor, subject, source, commit, payload, stored_prev, stored_hash = row
        if type(seq) is int:
            numbered += 1
            if seq < 1:
                # Records are numbered from 1: such a row is no record of the chain, though
                # readers listing by seq show it first. The walk goes on without it.
                findings.append(
                    Finding(
                        "unexpected_record",
                        seq,
                        f"a row numbered {seq} is outside the chain, whose records are "
                        "numbered from 1",
                    )
                )
                continue
            if objects and type(subject) is str and object_columns(subject) != row[10:]:
                findings.append(_object_finding(seq, row[10], row[11]))
        if count == 0:
            first_prev = stored_prev
            if prev_hash is None:
                prev_hash = stored_prev
        count += 1
        if type(seq) is not int:
            # Not a record of the chain at all; the walk goes on as if it were not there.
            findings.append(
                Finding(
                    "malformed_record",
                    expected_seq,
                    f"a row whose sequence number {chain.shown(seq)} is not an integer "
                    f"follows record {expected_seq - 1}",
                )
            )
            continue
        # PostgreSQL's text, or SQLite's stored value: text, or whatever an edit put there.
        time_text = chain.format_time(time) if isinstance(time, datetime) else time
        if (
            type(kind) is str
            and type(actor) is str
            and type(subject) is str
            and (source is None or type(source) is str)
            and (commit is None or type(commit) is str)
            and type(stored_prev) is str
            and type(stored_hash) is str
        ):
            problem = time_problem(time_text) or payload_problem(payload)
        else:
            problem = _type_problem(kind, actor, subject, source, commit, stored_prev, stored_hash)
        if problem is not None:
            findings.append(Finding("malformed_record", seq, f"record {seq}: {problem}"))
        if seq != expected_seq:
            findings.append(_numbering_finding(seq, expected_seq))
        if stored_prev != prev_hash:
            findings.append(
                Finding(
                    "broken_link",
                    seq,
                    f"record {seq} links to {str(stored_prev)[:16]}..., "
                    f"but the previous record's hash is {str(prev_hash)[:16]}...",
                )
            )
        if problem is None:
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
        if seq in keep:
            kept[seq] = stored_hash
        prev_hash, expected_seq = stored_hash, seq + 1
    return ChainWalk(
        count=count,
        first_prev=first_prev,
        last_seq=expected_seq - 1,
        last_hash=prev_hash if prev_hash is not None else GENESIS_HASH,
        kept=kept,
        findings=findings,
        numbered=numbered,
    )


def _object_finding(seq: int, namespace: object, kind: object) -> Finding:
    return Finding(
        "malformed_record",
        seq,
        f"record {seq}: its obj_namespace {chain.shown(namespace)} and obj_kind "
        f"{chain.shown(kind)} are not what its subject names, so the filters by namespace and "
        "object kind would misplace it",
    )


def _type_problem(*values: object) -> str:
    """Which field of a stored row is not of its type (some one is)."""
    names = ("kind", "actor", "subject", "source", "commit", "prev_hash", "hash")
    for name, value in zip(names, values, strict=True):
        if type(value) is not str and not (value is None and name in ("source", "commit")):
            return f"its {name} is a {type(value).__name__}, not text"
    return "a field is not of its type"


def _numbering_finding(seq: int, expected: int) -> Finding:
    if seq > expected:
        missing = f"{expected}" if seq == expected + 1 else f"{expected}..{seq - 1}"
        return Finding("missing_record", expected, f"record(s) {missing} are missing")
    return Finding("unexpected_record", seq, f"record {seq} appears out of order")


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


def check_checkpoint_ids(checkpoints: Iterable[Checkpoint], rows: int) -> list[Finding]:
    """Checkpoints are numbered 1, 2, 3... as they are made (`rows` of them in the table),
    each over what the chain held then: a checkpoint numbered outside 1..rows, or a copy of
    an earlier one, was put there outside gatekeeper (and one at the highest id would stop
    every later checkpoint)."""
    findings: list[Finding] = []
    seen: dict[tuple[int, str, datetime, str, str], int] = {}
    for checkpoint in checkpoints:
        name = f"checkpoint {checkpoint.id}"
        if not 1 <= checkpoint.id <= rows:
            findings.append(
                Finding(
                    "malformed_checkpoint",
                    checkpoint.seq,
                    f"{name} is numbered outside 1..{rows}, though checkpoints are numbered "
                    "without gaps as they are made: it was put there outside gatekeeper",
                    "audit_checkpoints",
                    str(checkpoint.id),
                )
            )
        content = (
            checkpoint.seq,
            checkpoint.head_hash,
            checkpoint.time,
            checkpoint.key_id,
            checkpoint.signature,
        )
        earlier = seen.setdefault(content, checkpoint.id)
        if earlier != checkpoint.id:
            findings.append(
                Finding(
                    "malformed_checkpoint",
                    checkpoint.seq,
                    f"{name} is a copy of checkpoint {earlier}: it was put there outside "
                    "gatekeeper",
                    "audit_checkpoints",
                    str(checkpoint.id),
                )
            )
    return findings


def check_witness(
    witnessed: Iterable[Checkpoint],
    stored: Iterable[Checkpoint],
    hashes: dict[int, str],
    head_seq: int,
    verifier: Verifier,
) -> list[Finding]:
    """Each witnessed checkpoint must verify, be in the database as it was made, and match
    the chain at its seq.

    This is what catches an owner of the database who deleted or rewrote checkpoints and then
    rewrote, re-chained or truncated the records they covered: the witness still holds them.
    A witnessed checkpoint that does not verify vouches for nothing and is only reported.
    """
    by_id = {checkpoint.id: checkpoint for checkpoint in stored}
    findings: list[Finding] = []
    for kept in witnessed:
        name = f"witnessed checkpoint {kept.id}"
        if kept.key_id != verifier.key_id:
            findings.append(
                Finding(
                    "witness_unknown_key",
                    kept.seq,
                    f"{name} names key {kept.key_id}, not the configured {verifier.key_id}",
                )
            )
            continue
        if not verifier.is_valid(kept.message(), kept.signature):
            findings.append(
                Finding(
                    "witness_bad_signature",
                    kept.seq,
                    f"{name} (record {kept.seq}) has a signature that does not verify",
                )
            )
            continue
        found = by_id.get(kept.id)
        if found is None:
            findings.append(
                Finding(
                    "witness_missing",
                    kept.seq,
                    f"{name} (record {kept.seq}, head {kept.head_hash[:16]}...) is not in the "
                    "database: its checkpoints were deleted",
                )
            )
        elif not same_checkpoint(found, kept):
            findings.append(
                Finding(
                    "witness_differs",
                    kept.seq,
                    f"the database's checkpoint {kept.id} (record {found.seq}, head "
                    f"{found.head_hash[:16]}...) is not the {name.removeprefix('witnessed ')} "
                    f"witnessed (record {kept.seq}, head {kept.head_hash[:16]}...): "
                    "its checkpoints were rewritten",
                )
            )
        if kept.seq > head_seq:
            findings.append(
                Finding(
                    "truncated",
                    head_seq + 1,
                    f"{name} covers {kept.seq} records, the log ends at {head_seq}",
                )
            )
        elif kept.seq > 0 and hashes.get(kept.seq) != kept.head_hash:
            findings.append(
                Finding(
                    "witness_chain_mismatch",
                    kept.seq,
                    f"record {kept.seq} no longer has the hash {name} signed "
                    f"({kept.head_hash[:16]}...): the records up to it were rewritten",
                )
            )
    return findings


def _walk_segment(url: str, first: int | None, last: int | None, keep: frozenset[int]) -> ChainWalk:
    """One worker's share of a parallel verification: seq in [first, last] (no bound where
    None)."""
    from gatekeeper.audit.database import create_database_engine

    engine = create_database_engine(url)
    try:
        return check_chain(
            AuditStore(engine).iter_raw(first=first, last=last, objects=True, lenient_text=True),
            start_seq=1 if first is None else max(first, 1),
            start_prev=None,
            keep=keep,
            objects=True,
        )
    finally:
        engine.dispose()


def _walk(store: AuditStore, keep: frozenset[int], workers: int, threshold: int) -> ChainWalk:
    try:
        head_seq, _ = store.head()
    except CorruptRecord:
        head_seq = 0  # a serial walk names the row
    database = store.engine.url.database or ""
    parallel = (
        workers > 1
        and head_seq >= max(threshold, workers)
        and not (store.engine.dialect.name == "sqlite" and database in ("", ":memory:"))
    )
    if not parallel:
        return check_chain(store.iter_raw(objects=True, lenient_text=True), keep=keep, objects=True)
    # Rows below 1 or above the head belong to the first and last segments, so none is missed.
    size = -(-head_seq // workers)
    bounds: list[tuple[int | None, int | None]] = [
        (1 + i * size, min(head_seq, (i + 1) * size)) for i in range(workers)
    ]
    bounds[0] = (None, bounds[0][1])
    bounds[-1] = (bounds[-1][0], None)
    url = store.engine.url.render_as_string(hide_password=False)
    # Forking skips re-importing everything in each worker, but is only safe from a process
    # with no other threads; pooled connections are closed first so no child inherits one.
    single_threaded = threading.active_count() == 1
    if single_threaded:
        store.engine.dispose()
    context = multiprocessing.get_context("fork" if single_threaded else "spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        walks = list(
            pool.map(
                _walk_segment,
                [url] * workers,
                [b[0] for b in bounds],
                [b[1] for b in bounds],
                [keep] * workers,
            )
        )
    return _stitch(walks, bounds)


def _stitch(walks: list[ChainWalk], bounds: list[tuple[int | None, int | None]]) -> ChainWalk:
    findings: list[Finding] = []
    kept: dict[int, str] = {}
    last_seq, last_hash, count, numbered = 0, GENESIS_HASH, 0, 0
    for (first, _), walk in zip(bounds, walks, strict=True):
        findings.extend(walk.findings)
        kept.update(walk.kept)
        if walk.count:
            seam = 1 if first is None else max(first, 1)
            if walk.first_prev != last_hash:
                findings.append(
                    Finding(
                        "broken_link",
                        seam,
                        f"record {seam} does not link to the record before it",
                    )
                )
            last_seq, last_hash = walk.last_seq, walk.last_hash
        count += walk.count
        numbered += walk.numbered
    return ChainWalk(count, GENESIS_HASH, last_seq, last_hash, kept, findings, numbered)


def verify_store(
    store: AuditStore,
    verifier: Verifier | None,
    *,
    workers: int = 1,
    parallel_threshold: int = PARALLEL_THRESHOLD,
    witness: WitnessCopy | None = None,
    now: datetime | None = None,
) -> VerifyReport:
    """Recompute everything the store holds, and hold it against `witness` when given.

    Besides the chain and its checkpoints: the provenance ledger's rows against the records
    that vouch for them, and, when `verifier` carries a freshness rule (checkpoints are
    configured), that no record waits too long for a checkpoint (as of `now`).

    With `workers` above 1 (0: one per core), logs of at least `parallel_threshold` records
    are split into contiguous ranges checked by that many processes, whose seams are then
    checked here. Worker processes are spawned, so a calling script needs the usual
    `if __name__ == "__main__":` guard; the CLI has one.

    A witness needs the public key, and one that holds no checkpoint is refused: either would
    make its check pass without looking at anything.
    """
    if witness is not None:
        if verifier is None:
            raise SigningKeyError("checking a witness needs the checkpoint public key")
        if not witness.checkpoints:
            raise WitnessError(f"the witness {witness.location} holds no checkpoint")
    checkpoints, damaged = store.checkpoints_and_damage()
    keep = frozenset(checkpoint.seq for checkpoint in checkpoints)
    if witness is not None:
        keep |= {checkpoint.seq for checkpoint in witness.checkpoints}
    walk = _walk(store, keep, workers or os.cpu_count() or 1, parallel_threshold)
    findings = walk.findings + _unreached(store, walk)
    findings += check_checkpoints(checkpoints, walk.kept, walk.last_seq, verifier)
    findings += [
        Finding("malformed_checkpoint", exc.seq, str(exc), "audit_checkpoints", exc.row)
        for exc in damaged
    ]
    findings += check_checkpoint_ids(checkpoints, len(checkpoints) + len(damaged))
    coverage = None
    if witness is not None and verifier is not None:
        findings += check_witness(
            witness.checkpoints, checkpoints, walk.kept, walk.last_seq, verifier
        )
        coverage = coverage_of(witness, checkpoints, walk.last_seq, verifier)
    if verifier is not None and verifier.freshness is not None:
        findings += _freshness(store, verifier.freshness, checkpoints, walk.last_seq, now)
    ledger_findings, ledger = check_ledger(store, upto=walk.last_seq)
    findings += ledger_findings
    findings.sort(key=lambda finding: finding.seq)
    return VerifyReport(
        records=walk.count,
        head_seq=walk.last_seq,
        head_hash=walk.last_hash,
        checkpoints=len(checkpoints),
        last_checkpoint_seq=checkpoints[-1].seq if checkpoints else None,
        findings=findings,
        witness=coverage,
        ledger=ledger,
    )


def _unreached(store: AuditStore, walk: ChainWalk) -> list[Finding]:
    """A finding when the table holds more rows up to the walk's head than the walk saw:
    rows no walk reaches are in no check, yet readers may list them. (Rows appended since
    the walk are above its head and not counted.)"""
    held = store.count_numbered(upto=walk.last_seq)
    if held <= walk.numbered:
        return []
    return [
        Finding(
            "unexpected_record",
            0,
            f"the log holds {held} rows numbered up to {walk.last_seq}, but verification "
            f"reached {walk.numbered} of them: rows were put where no walk of the chain finds "
            "them",
        )
    ]


def _freshness(
    store: AuditStore,
    rule: Freshness,
    checkpoints: list[Checkpoint],
    head_seq: int,
    now: datetime | None,
) -> list[Finding]:
    last = max(checkpoints, key=lambda c: c.seq, default=None)
    covered = 0 if last is None else last.seq
    try:
        first_uncovered = store.get(covered + 1) if head_seq > covered else None
    except CorruptRecord:
        return []  # the chain's walk has named it
    return check_freshness(
        rule,
        head_seq=head_seq,
        last_checkpoint_seq=None if last is None else last.seq,
        last_checkpoint_time=None if last is None else last.time,
        first_uncovered_time=None if first_uncovered is None else first_uncovered.time,
        now=now or datetime.now(UTC),
    )


def iter_text(report: VerifyReport) -> Iterator[str]:
    """Human-readable lines of a report."""
    yield f"records: {report.records} (head {report.head_seq}, {report.head_hash[:16]}...)"
    yield f"checkpoints: {report.checkpoints}" + (
        f" (last covers {report.last_checkpoint_seq})" if report.checkpoints else ""
    )
    if report.uncovered is not None:
        first, last = report.uncovered
        yield f"not covered by a checkpoint (not verified): records {first}..{last}"
    if report.witness is not None:
        yield from report.witness.lines()
    if report.ledger is not None:
        yield (
            f"ledger: {report.ledger.vouched} row(s) vouched for by the chain"
            + (
                f", {report.ledger.legacy} written before vouching (unvouched legacy, "
                "pinned at the upgrade; not verified)"
                if report.ledger.legacy
                else ""
            )
        )
    for finding in report.findings:
        where = finding.seq if finding.table is None else f"{finding.table} row {finding.row}"
        yield f"{finding.problem} at {where}: {finding.detail}"
