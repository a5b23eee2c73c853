"""The log's integrity as the dashboard shows it: verified in the background, never assumed.

A full verification (every hash, every link, every checkpoint signature) runs at start and
then every `full_every` seconds; in between, only the records appended since the last check
are walked. A record counts as verified only when the chain up to it holds AND a checkpoint
signed by the configured key covers it: records after the last checkpoint are "not covered",
and with no public key configured nothing is "verified".
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Literal

from gatekeeper.audit import chain
from gatekeeper.audit.errors import StoreUnavailable, WitnessError, WitnessUnavailable
from gatekeeper.audit.signing import Verifier
from gatekeeper.audit.store import AuditStore, Checkpoint
from gatekeeper.audit.verify import Finding, check_chain, check_checkpoints, verify_store
from gatekeeper.audit.witness import WitnessCopy, WitnessReader
from gatekeeper.audit.witness_coverage import WitnessCoverage

log = logging.getLogger(__name__)

Status = Literal["checking", "verified", "partly-verified", "not-verified", "tampered"]


@dataclass(frozen=True)
class IntegrityState:
    """What the last check found, and up to where a signed checkpoint vouches for the log."""

    status: Status
    checked_at: datetime | None
    checked_upto: int
    head_hash: str
    key_id: str | None
    last_checkpoint: Checkpoint | None
    covered_upto: int
    findings: tuple[Finding, ...] = ()
    error: str = ""
    witness: WitnessCoverage | None = None
    witness_problem: str = ""

    def covers(self, seq: int) -> bool:
        """True when `seq` is verified: chain intact and under a valid checkpoint."""
        return self.status in ("verified", "partly-verified") and seq <= self.covered_upto

    def as_json(self, head_seq: int, now: datetime) -> dict[str, Any]:
        checkpoint = self.last_checkpoint
        uncovered = max(head_seq - self.covered_upto, 0)
        status: Status = self.status
        if status == "verified" and uncovered:
            status = "partly-verified"
        return {
            "status": status,
            "verified": status == "verified",
            "checked_at": _iso(self.checked_at),
            "records": head_seq,
            "checked_upto": self.checked_upto,
            "head_hash": self.head_hash,
            "public_key_configured": self.key_id is not None,
            "key_id": self.key_id,
            "last_checkpoint": None
            if checkpoint is None
            else {
                "seq": checkpoint.seq,
                "time": _iso(checkpoint.time),
                "age_seconds": round((now - checkpoint.time).total_seconds(), 1),
                "key_id": checkpoint.key_id,
                "signature": checkpoint.signature,
                "head_hash": checkpoint.head_hash,
            },
            "covered_upto": self.covered_upto,
            "uncovered_records": uncovered,
            "uncovered_range": [self.covered_upto + 1, head_seq] if uncovered else None,
            "first_bad_seq": min((f.seq for f in self.findings), default=None),
            "findings": [
                {"problem": f.problem, "seq": f.seq, "detail": f.detail} for f in self.findings[:50]
            ],
            "witness": None if self.witness is None else self.witness.as_json(),
            "witness_problem": self.witness_problem or None,
            "error": self.error or None,
        }


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else chain.format_time(moment)


@dataclass
class IntegrityMonitor:
    """Keeps an `IntegrityState` fresh from a background thread."""

    store: AuditStore
    verifier: Verifier | None
    witness: WitnessReader | None = None
    interval: float = 15.0
    full_every: float = 600.0
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    _state: IntegrityState = field(init=False)
    _last_full: float = field(default=0.0, init=False)
    _checked_ids: set[int] = field(default_factory=set, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)
    _stopping: threading.Event = field(default_factory=threading.Event, init=False)
    _thread: threading.Thread | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self._state = IntegrityState(
            status="checking",
            checked_at=None,
            checked_upto=0,
            head_hash="",
            key_id=self.verifier.key_id if self.verifier else None,
            last_checkpoint=None,
            covered_upto=0,
        )

    @property
    def state(self) -> IntegrityState:
        with self._lock:
            return self._state

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="integrity", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def refresh(self, *, full: bool = False) -> IntegrityState:
        """Check now: everything when `full` (or never checked), else what was appended."""
        try:
            current = self.state
            if full or current.checked_at is None or current.status == "tampered":
                state = self._full()
                self._last_full = time.monotonic()
            else:
                state = replace(
                    self._incremental(current),
                    witness=current.witness,
                    witness_problem=current.witness_problem,
                )
        except (StoreUnavailable, WitnessUnavailable) as exc:
            # Nothing could be read: what was found last still stands, with the reason.
            log.warning("cannot check the audit log: %s", exc)
            state = replace(self.state, error=str(exc))
        except Exception as exc:  # a row or checkpoint that cannot even be read back
            log.exception("the audit log cannot be checked")
            state = replace(
                self.state,
                status="tampered",
                covered_upto=0,
                checked_at=self.clock(),
                error=f"the log cannot be read back as it was written: {exc!r}",
            )
        with self._lock:
            self._state = state
        return state

    def _full(self) -> IntegrityState:
        problem = ""
        try:
            copy = self._witnessed()
        except WitnessError as exc:
            if isinstance(exc, WitnessUnavailable):
                raise
            # Nothing witnessed yet (a fresh install), or not a witness: the chain is still
            # checked, and the page says why the witness was not.
            copy, problem = None, str(exc)
        # A damaged checkpoint is a finding of `verify_store`, not a reason to stop here.
        checkpoints, _damaged = self.store.checkpoints_and_damage()
        report = verify_store(self.store, self.verifier, witness=copy)
        self._checked_ids = {c.id for c in checkpoints if c.seq <= report.head_seq}
        state = self._state_of(
            findings=tuple(report.findings),
            checked_upto=report.head_seq,
            head_hash=report.head_hash,
            last=checkpoints[-1] if checkpoints else None,
        )
        return replace(state, witness=report.witness, witness_problem=problem)

    def _witnessed(self) -> WitnessCopy | None:
        """What the witness holds, when one is configured, holds something and can be
        checked (it needs the public key); otherwise the chain is checked without it."""
        if self.witness is None or self.verifier is None:
            return None
        copy = self.witness.read()
        return copy if copy.checkpoints else None

    def _incremental(self, current: IntegrityState) -> IntegrityState:
        start = current.checked_upto + 1
        checkpoints, damaged = self.store.checkpoints_and_damage()
        if damaged or any(c.seq < start and c.id not in self._checked_ids for c in checkpoints):
            # A checkpoint made over records already walked, or one that no longer reads back:
            # only a full check can hold it against the chain's hash at its seq.
            self._last_full = time.monotonic()
            return self._full()
        fresh = [c for c in checkpoints if c.seq >= start]
        walk = check_chain(
            self.store.iter_raw(first=start),
            start_seq=start,
            start_prev=current.head_hash or None,
            keep=frozenset(c.seq for c in fresh),
        )
        head_seq = walk.last_seq if walk.count else current.checked_upto
        head_hash = walk.last_hash if walk.count else current.head_hash
        findings = walk.findings + check_checkpoints(fresh, walk.kept, head_seq, self.verifier)
        self._checked_ids |= {c.id for c in fresh if c.seq <= head_seq}
        return self._state_of(
            findings=current.findings + tuple(findings),
            checked_upto=head_seq,
            head_hash=head_hash,
            last=checkpoints[-1] if checkpoints else None,
        )

    def _state_of(
        self,
        *,
        findings: tuple[Finding, ...],
        checked_upto: int,
        head_hash: str,
        last: Checkpoint | None,
    ) -> IntegrityState:
        status: Status
        if findings:
            status = "tampered"
        elif self.verifier is None:
            status = "not-verified"
        else:
            status = "verified"
        covered = last.seq if (last is not None and status == "verified") else 0
        return IntegrityState(
            status=status,
            checked_at=self.clock(),
            checked_upto=checked_upto,
            head_hash=head_hash,
            key_id=self.verifier.key_id if self.verifier else None,
            last_checkpoint=last,
            covered_upto=min(covered, checked_upto),
            findings=findings,
        )

    def _run(self) -> None:
        while not self._stopping.is_set():
            due = time.monotonic() - self._last_full >= self.full_every
            try:
                self.refresh(full=due)
            except Exception:  # the check must go on; refresh has said what failed
                log.exception("integrity check failed")
            self._stopping.wait(self.interval)
