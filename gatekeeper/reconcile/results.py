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
    tag: str | None = None,
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
            tag=tag,
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


RENDERING_CHANGED = "rendering_changed"


def rendering_changed(
    commit: str, recorded: Mapping[Any, str], rendered: Mapping[Any, str]
) -> str | None:
    """Why the synced commit, rendered again, is not what its gates passed, or None when it is.

    `recorded` and `rendered` map object keys to manifest digests: the ledger's rows for the
    commit, and this rendering. They differ when the source's settings changed how the commit
    renders (its namespace, Helm values, createNamespace...) or, for a Helm chart, the
    cluster's capabilities changed (a new API the chart tests for): what the ledger vouches for a
    commit is fixed, so the new rendering waits for the next commit, whose gates judge it.
    """
    changed = [
        f"{key} changed"
        for key, digest in rendered.items()
        if key in recorded and recorded[key] != digest
    ]
    changed += [f"{key} new" for key in rendered if key not in recorded]
    changed += [f"{key} no longer rendered" for key in recorded if key not in rendered]
    if not changed:
        return None
    listed = sorted(changed)
    shown = ", ".join(listed[:5]) + (f" and {len(listed) - 5} more" if len(listed) > 5 else "")
    return (
        f"commit {commit[:12]} renders differently than when it was synced ({shown}): the "
        "source's settings changed (namespace, values, createNamespace...), or for a Helm "
        "chart the cluster's capabilities did. The ledger holds the rendering the commit's "
        "gates passed, so the new one takes effect with the next commit; until then nothing "
        "is applied, corrected or pruned"
    )


def summary(reasons: Sequence[Mapping[str, Any]]) -> str:
    """The first three reasons' messages, and how many more there are."""
    text = "; ".join(str(reason.get("message", "")) for reason in reasons[:3])
    more = len(reasons) - 3
    return text + (f" (and {more} more)" if more > 0 else "")
