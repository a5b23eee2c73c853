"""What a pass sets out to do: which commit it brings, and which gates that commit still needs.

Pure decisions on the source's state as the audit log tells it (`history.SourceState`) and the
commit Git names now. A pass has one `Purpose`, a value: `Sync` follows Git, `Rollback`
carries everything about a rollback (where to, from where, who asked and why). A commit that
passed its gates before skips them by name, with the reason recorded (`resync_skips`,
`rollback_skip`). History only moves forward: a head that does not descend from the synced
commit is refused (`rewritten`), and only a `Rollback` goes back.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from gatekeeper.audit.events import Record
from gatekeeper.kube.contract import VerifiedCommit
from gatekeeper.reconcile.desired import Signature, SkipPolicies, SkipProvenance
from gatekeeper.reconcile.history import SourceState


@dataclass(frozen=True)
class Sync:
    """The pass follows Git: the commit the source's ref names, or the one a rollback holds."""


@dataclass(frozen=True, kw_only=True)
class Rollback:
    """A return to an earlier verified commit, asked by `requested_by` (an operator, or the
    reconciler itself when a sync stays unhealthy), and what it returns from."""

    to: str
    from_commit: str | None
    head: str | None
    reason: str
    requested_by: str
    automatic: bool


Purpose = Sync | Rollback


@dataclass(frozen=True)
class Keep:
    """Git names the commit already synced: nothing new to check."""

    commit: str


@dataclass(frozen=True)
class Recall:
    """Git names a commit rejected before, and nothing that decided it has changed since:
    it stays rejected without being checked or recorded again."""

    commit: str
    reasons: tuple[Mapping[str, Any], ...]


@dataclass(frozen=True)
class Check:
    """Git names a new commit: every gate runs on what it brings after `since`."""

    commit: str
    since: str | None


Target = Keep | Recall | Check


def target_commit(state: SourceState, head: str) -> str:
    """The commit the source should be at: Git's head, unless a rollback holds it elsewhere
    and Git has not moved on from the head it rolled back from."""
    if state.hold is not None and state.hold.head in (None, head):
        return state.hold.commit
    return head


def choose(
    state: SourceState, *, head: str, policy_set_version: str, tag: str | None = None
) -> Target:
    """What this pass does about the commit Git names (`head`), through the annotated tag
    object `tag` when the source's ref names one: a tag signed again is a new tag object,
    checked again although its commit is the one rejected."""
    target = target_commit(state, head)
    synced = state.synced_commit
    if target == synced:
        return Keep(target)
    already = state.last_rejected
    if (
        already is not None
        and already.commit == target
        and (state.last_applied is None or already.seq > state.last_applied.seq)
        and not policies_changed(already, policy_set_version)
        and already.payload.get("tag") == tag
    ):
        return Recall(target, tuple(already.payload.get("reasons") or ()))
    return Check(target, since=synced)


def policies_changed(rejection: Record, policy_set_version: str) -> bool:
    """Whether policies refused the rejected commit and the policy set changed since."""
    reasons = rejection.payload.get("reasons") or []
    if not any(reason.get("kind") == "policy" for reason in reasons):
        return False
    return bool(rejection.payload.get("policy_set_version") != policy_set_version)


HISTORY_REWRITTEN: Final = "history_rewritten"


def rewritten(*, synced: str, head: str, missing: bool) -> dict[str, Any]:
    """Why a pass refuses a head that does not descend from the synced commit (a force-push,
    a branch moved back, an unrelated history): Git's history only moves forward, and the
    way back to an earlier commit is `gatekeeper rollback`. `missing`: the synced commit is
    not in the repository any more at all."""
    if missing:
        why = f"the synced commit {synced[:12]} is no longer in the repository"
        kept = "its objects stay as they are, but its drift cannot be watched"
    else:
        why = f"{head[:12]} does not descend from the synced commit {synced[:12]}"
        kept = "the source stays at it"
    return {
        "kind": HISTORY_REWRITTEN,
        "commit": head,
        "synced": synced,
        "missing": missing,
        "message": f"history rewritten: {why}; {kept} (only `gatekeeper rollback` goes back)",
    }


def resync_skips(state: SourceState) -> tuple[SkipProvenance, SkipPolicies]:
    """The gates skipped when the synced commit is rendered again to compare with the cluster:
    they ran when it was synced (or rolled back to), as its `sync.applied` record shows."""
    commit = state.synced_commit
    if commit is None or state.last_applied is None:
        raise ValueError("only a synced commit skips its gates")
    why = f"commit {commit[:12]} is the one synced (record {state.applied_seq})"
    return (
        SkipProvenance(reason=f"{why}; it was verified when it was synced"),
        SkipPolicies(reason=f"{why}; its objects passed then"),
    )


def rollback_skip(verified: VerifiedCommit) -> SkipProvenance:
    """A rollback does not verify signatures again: the ledger says when they were, and by
    whom. (The current policies still run.)"""
    return SkipProvenance(
        reason=f"rollback to commit {verified.commit[:12]}, verified for source "
        f"{verified.source} at {verified.verified_at.isoformat()}",
        signature=Signature(signer=verified.signer, key_id=verified.key_id, format=verified.format),
        verified_at=verified.verified_at,
    )
