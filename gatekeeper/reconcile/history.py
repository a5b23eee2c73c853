"""What the audit log says about a source, as values: its sync state, a hold, admitted changes.

Pure: `state.load` and `witnesses.admitted_changes` read the records, and the reconcile core
decides on these values without touching the store.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final

from gatekeeper.audit.events import Record

SYNC_HEALTHY: Final = "sync.healthy"
SYNC_UNHEALTHY: Final = "sync.unhealthy"


@dataclass(frozen=True)
class Hold:
    """A rollback pins the source to `commit` until Git moves on from `head`."""

    commit: str
    head: str | None


@dataclass(frozen=True)
class SourceState:
    """The newest records that decide a pass: what was applied, rejected, judged, held."""

    last_applied: Record | None
    last_rejected: Record | None
    health_settled: bool
    hold: Hold | None

    @property
    def synced_commit(self) -> str | None:
        return self.last_applied.commit if self.last_applied else None

    @property
    def applied_seq(self) -> int:
        """The sequence number of the last `sync.applied`, 0 before the first."""
        return self.last_applied.seq if self.last_applied is not None else 0

    @property
    def applied_kinds(self) -> list[str]:
        """The kinds (`apiVersion|kind`) where stale objects may be: those the last sync
        applied, then those of the objects it meant to prune and left (`stale_kinds`)."""
        if self.last_applied is None:
            return []
        payload = self.last_applied.payload
        kinds = [str(kind) for kind in payload.get("kinds") or []]
        stale = [str(kind) for kind in payload.get("stale_kinds") or []]
        return kinds + [kind for kind in stale if kind not in kinds]

    @property
    def awaiting_health(self) -> bool:
        """The last apply brought a new commit whose workloads have not been judged yet."""
        if self.last_applied is None or self.health_settled:
            return False
        return not bool(self.last_applied.payload.get("rollback"))


@dataclass(frozen=True)
class AdmittedChange:
    """One admitted change of an object by someone other than the reconciler."""

    seq: int
    time: str
    user: str
    groups: tuple[str, ...]
    operation: str
    decision: str
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "user": self.user,
            "groups": list(self.groups),
            "operation": self.operation,
            "decision": self.decision,
            "reason": self.reason,
        }
