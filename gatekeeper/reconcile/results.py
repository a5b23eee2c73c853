"""What a pass reports: its result, and the records of a commit refused or a pass broken off.

Pure, like `core`: the passes that apply nothing are decided here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from gatekeeper.audit.events import NewEvent
from gatekeeper.reconcile import journal

Outcome = Literal["applied", "unchanged", "rejected", "failed", "rolled_back", "standby", "waiting"]


@dataclass(frozen=True)
class PassResult:
    """What one pass did for one source."""

    source: str
    outcome: Outcome
    commit: str | None
    applied: int = 0
    pruned: int = 0
    drifted: int = 0
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.outcome not in ("rejected", "failed")


def rejection(
    *,
    source: str,
    commit: str,
    since: str | None,
    reasons: Sequence[Mapping[str, Any]],
    actor: str,
    policy_set_version: str,
) -> tuple[NewEvent, ...]:
    """The records of a commit the gates refused: `sync.rejected`, one `policy.denied` each."""
    return (
        journal.rejected(
            source=source,
            commit=commit,
            actor=actor,
            since=since,
            reasons=reasons,
            policy_set_version=policy_set_version,
        ),
        *journal.policy_denials(source=source, commit=commit, actor=actor, reasons=reasons),
    )


def rejected(
    source: str, commit: str, reasons: Sequence[Mapping[str, Any]], kept: PassResult | None
) -> PassResult:
    """The result of a pass whose target was refused; `kept` is how the synced commit fared."""
    if kept is None:
        return PassResult(
            source, "rejected", commit, message=summary(reasons) or "nothing synced yet"
        )
    return PassResult(
        source,
        "rejected",
        commit,
        applied=kept.applied,
        pruned=kept.pruned,
        drifted=kept.drifted,
        message=summary(reasons),
    )


def broken(
    source: str,
    commit: str | None,
    *,
    actor: str,
    error: str,
    stage: str = "pass",
    reason: str | None = None,
) -> tuple[NewEvent, PassResult]:
    """A pass that could not finish: `sync.failed` at stage `pass`, or `fetch` when the
    remote was out of reach (with the `reason`: auth, host-key, unreachable, ...)."""
    record = journal.failed(
        source=source,
        commit=commit,
        actor=actor,
        error=error,
        applied=[],
        not_applied=[],
        stage=stage,
    )
    if reason is not None:
        record = replace(record, payload={**record.payload, "reason": reason})
    return record, PassResult(source, "failed", commit, message=error)


def summary(reasons: Sequence[Mapping[str, Any]]) -> str:
    """The first three reasons' messages, and how many more there are."""
    text = "; ".join(str(reason.get("message", "")) for reason in reasons[:3])
    more = len(reasons) - 3
    return text + (f" (and {more} more)" if more > 0 else "")
