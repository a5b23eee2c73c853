"""Audit events: what callers hand to the store, and what the store hands back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

GENESIS_HASH: Final = "0" * 64

# The kinds other parts record; the store accepts any dotted lower-case kind.
SYNC_APPLIED: Final = "sync.applied"
SYNC_REJECTED: Final = "sync.rejected"
SYNC_FAILED: Final = "sync.failed"
POLICY_DENIED: Final = "policy.denied"
POLICY_RELOAD_FAILED: Final = "policy.reload_failed"
POLICY_RELOADED: Final = "policy.reloaded"
ADMISSION_ALLOWED: Final = "admission.allowed"
ADMISSION_DENIED: Final = "admission.denied"
BREAKGLASS: Final = "breakglass"
DRIFT_DETECTED: Final = "drift.detected"
DRIFT_CORRECTED: Final = "drift.corrected"
ROLLBACK: Final = "rollback"
PRUNED: Final = "sync.pruned"
SYNC_HEALTHY: Final = "sync.healthy"
SYNC_UNHEALTHY: Final = "sync.unhealthy"
REPORT_GENERATED: Final = "report.generated"
POLICY_REJECTED: Final = "policy.rejected"
POLICY_LOADED: Final = "policy.loaded"
LEDGER_RECORDED: Final = "ledger.recorded"
LEDGER_LEGACY: Final = "ledger.legacy"
NOTIFICATION_DROPPED: Final = "notification.dropped"
RECEIVER_REJECTED: Final = "receiver.rejected"


@dataclass(frozen=True, kw_only=True)
class NewEvent:
    """One event as a caller describes it; the store adds sequence, time and hashes."""

    kind: str
    actor: str
    subject: str = ""
    source: str | None = None
    commit: str | None = None
    payload: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True)
class Record:
    """One stored event, exactly as it is hashed into the chain."""

    seq: int
    time: datetime
    kind: str
    actor: str
    subject: str
    source: str | None
    commit: str | None
    payload: Mapping[str, Any]
    prev_hash: str
    hash: str
