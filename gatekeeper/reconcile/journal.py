"""The audit records a pass writes: one builder per event kind, so payloads stay uniform.

Payloads only ever gain fields: records already in the chain stay valid, and readers take a
missing field as unknown. docs/audit.md lists every kind and field.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

from gatekeeper.audit import chain, events
from gatekeeper.audit.events import NewEvent
from gatekeeper.kube import compare
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.provenance.verdicts import CommitVerdict, MatchedRule, RangeVerdict
from gatekeeper.reconcile import drift, health
from gatekeeper.reconcile.desired import PolicyResults, ProvenanceGate, Skip, SkipProvenance
from gatekeeper.reconcile.history import SYNC_HEALTHY, SYNC_UNHEALTHY, AdmittedChange
from gatekeeper.reconcile.intent import Rollback

# A commit's paths are always counted, and listed too when there are no more than this.
PATHS_LISTED: Final = 20


@dataclass(frozen=True)
class ObjectChange:
    """One object a sync really changed, by its manifest digest before and after the sync
    (None: the object did not exist before, or exists no more)."""

    object: str
    path: str | None
    digest_before: str | None
    digest_after: str | None

    def to_dict(self) -> dict[str, str | None]:
        return {
            "object": self.object,
            "path": self.path,
            "digest_before": self.digest_before,
            "digest_after": self.digest_after,
        }


def object_entry(item: DesiredObject) -> dict[str, str]:
    return {"object": str(item.key), "path": item.path, "digest": item.digest}


def applied(
    *,
    source: str,
    commit: str,
    actor: str,
    objects: Sequence[DesiredObject],
    to_apply: Sequence[DesiredObject],
    kinds: Sequence[str],
    since: str | None,
    signer: str | None,
    stale_kinds: Sequence[str] = (),
    provenance: ProvenanceGate | None = None,
    policies: PolicyResults | None = None,
    changes: Sequence[ObjectChange] = (),
    rollback_of: Rollback | None = None,
    skipped: Sequence[Skip] = (),
    rendered_from: Sequence[str] = (),
    fetched: Sequence[Mapping[str, str]] = (),
) -> NewEvent:
    """The apply of a commit's objects, with what an auditor traces it by: the commits it
    brings and who signed them under which rules, the policy set and its findings, the
    objects it really changed, and the rollback it carries out; `skipped` names the gates
    not run on it, and why.

    `applied` lists every object applied (an object whose commit annotation moves on is
    applied too); `changed` only those whose manifest differs, and the objects pruned.
    `rendered_from` lists the repository files the render read (an overlay's bases, patches,
    generators' files, values files); `fetched` the chart dependencies fetched, as pinned.
    `kinds` are the commit's kinds; `stale_kinds` those of the objects the sync meant to
    prune but did not delete, where the next pass looks for them again.
    """
    payload: dict[str, Any] = {
        "since": since,
        "signer": signer,
        "rollback": rollback_of is not None,
        "applied": [str(item.key) for item in to_apply],
        "objects": [object_entry(item) for item in objects],
        "kinds": list(kinds),
        "stale_kinds": list(stale_kinds),
        "warnings": list(policies.warnings) if policies is not None else [],
        "verification": _verification(provenance),
        "commits": commit_entries(provenance, commit),
        "rules": rule_entries(provenance),
        "policy_set_version": policies.version if policies is not None else None,
        "policy_results": policy_results(policies),
        "changed": [change.to_dict() for change in changes],
        "unchanged": len(objects) - sum(1 for c in changes if c.digest_after is not None),
        "rollback_of": _rollback_payload(rollback_of) if rollback_of is not None else None,
        "rendered_from": list(rendered_from),
        "fetched": [dict(item) for item in fetched],
    }
    _note_skips(payload, skipped)
    return NewEvent(
        kind=events.SYNC_APPLIED,
        actor=actor,
        subject=f"source/{source}",
        source=source,
        commit=commit,
        payload=payload,
    )


def _note_skips(payload: dict[str, Any], skipped: Sequence[Skip]) -> None:
    """Every record of an apply made without some gate says which, and why."""
    if skipped:
        payload["skipped_gates"] = [skip.to_dict() for skip in skipped]


def _verification(provenance: ProvenanceGate | None) -> str | None:
    """How the commits were checked: `strict` or `head` (the trust policy's mode), or
    `ledger` when the gate was skipped and the record restates what the ledger holds."""
    if isinstance(provenance, RangeVerdict):
        return provenance.mode
    if isinstance(provenance, SkipProvenance):
        return "ledger"
    return None


def commit_entries(provenance: ProvenanceGate | None, commit: str) -> list[dict[str, Any]] | None:
    """The commits a sync brings, oldest first, as their verification found them (in head
    mode the head only); for a skipped gate, what the ledger recorded of `commit` and when
    it was verified. None when nothing is known."""
    if isinstance(provenance, RangeVerdict):
        return [_verified_commit(verdict) for verdict in provenance.commits]
    if isinstance(provenance, SkipProvenance):
        signature = provenance.signature
        at = provenance.verified_at
        return [
            {
                "sha": commit,
                "author": None,
                "time": None,
                "signer": signature.signer,
                "key": signature.key_id,
                "format": signature.format,
                "paths": None,
                "path_list": None,
                "rules": None,
                "verified_at": chain.format_time(at) if at is not None else None,
            }
        ]
    return None


def _verified_commit(verdict: CommitVerdict) -> dict[str, Any]:
    paths = verdict.paths
    return {
        "sha": verdict.sha,
        "author": verdict.author,
        "time": _git_time(verdict.time),
        "signer": verdict.signer,
        "key": verdict.key_id,
        "format": str(verdict.format) if verdict.format is not None else None,
        "paths": len(paths),
        "path_list": list(paths) if len(paths) <= PATHS_LISTED else None,
        "rules": [{"rule": rule.index, "paths": list(rule.paths)} for rule in verdict.rules],
    }


def _git_time(moment: datetime | None) -> str | None:
    """A commit time in UTC, to the second as Git keeps it: `2027-01-15T10:00:00Z`."""
    if moment is None:
        return None
    return chain.as_utc(moment).strftime("%Y-%m-%dT%H:%M:%SZ")


def rule_entries(provenance: ProvenanceGate | None) -> list[dict[str, Any]] | None:
    """Each trust rule that decided a path of the range: whom it allows, how many distinct
    signers it needs (`min_signers`) and which it counted (`signers_met`). None when the
    gate was skipped: the ledger keeps no rules."""
    if not isinstance(provenance, RangeVerdict):
        return None
    return [
        {
            "rule": outcome.rule.index,
            "paths": list(outcome.rule.paths),
            "signers": _allowed(outcome.rule),
            "min_signers": outcome.rule.min_signers,
            "signers_met": list(outcome.signers),
        }
        for outcome in provenance.rules
    ]


def _allowed(rule: MatchedRule) -> list[str]:
    return list(rule.signers) if rule.signers is not None else ["*"]


def policy_results(policies: PolicyResults | None) -> dict[str, Any] | None:
    """How many findings of each action the commit's objects drew, and the messages of
    those that let it through. None when the policies were skipped."""
    if policies is None:
        return None
    messages = [
        {**finding, "action": action}
        for action, findings in (("warn", policies.warnings), ("dryrun", policies.dry_runs))
        for finding in findings
    ]
    return {
        "denials": 0,  # a denial rejects the commit: an applied one has none
        "warnings": len(policies.warnings),
        "dryrun": len(policies.dry_runs),
        "messages": messages,
    }


def rejected(
    *,
    source: str,
    commit: str,
    actor: str,
    since: str | None,
    reasons: Sequence[Mapping[str, Any]],
    policy_set_version: str,
    tag: str | None = None,
) -> NewEvent:
    """`tag`: the annotated tag object the source's ref named, when it named one."""
    payload: dict[str, Any] = {
        "since": since,
        "kept": since,
        "reasons": [dict(r) for r in reasons],
        "policy_set_version": policy_set_version,
    }
    if tag is not None:
        payload["tag"] = tag
    return NewEvent(
        kind=events.SYNC_REJECTED,
        actor=actor,
        subject=f"source/{source}",
        source=source,
        commit=commit,
        payload=payload,
    )


def policy_denials(
    *, source: str, commit: str, actor: str, reasons: Sequence[Mapping[str, Any]]
) -> list[NewEvent]:
    """One `policy.denied` per denied object (phase sync), beside the `sync.rejected`."""
    by_object: dict[str, list[Mapping[str, Any]]] = {}
    for reason in reasons:
        if reason.get("kind") == "policy":
            by_object.setdefault(str(reason.get("object")), []).append(reason)
    return [
        NewEvent(
            kind=events.POLICY_DENIED,
            actor=actor,
            subject=subject,
            source=source,
            commit=commit,
            payload={
                "phase": "sync",
                "path": found[0].get("path"),
                "messages": [{"policy": r.get("policy"), "msg": r.get("message")} for r in found],
            },
        )
        for subject, found in sorted(by_object.items())
    ]


def failed(
    *,
    source: str,
    commit: str | None,
    actor: str,
    error: str,
    applied: Sequence[ObjectKey],
    not_applied: Sequence[ObjectKey],
    stage: str,
) -> NewEvent:
    return NewEvent(
        kind=events.SYNC_FAILED,
        actor=actor,
        subject=f"source/{source}",
        source=source,
        commit=commit,
        payload={
            "stage": stage,
            "error": error,
            "applied": [str(key) for key in applied],
            "not_applied": [str(key) for key in not_applied],
        },
    )


def pruned(*, source: str, commit: str, actor: str, obj: Mapping[str, Any]) -> NewEvent:
    key = ObjectKey.of(obj)
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return NewEvent(
        kind=events.PRUNED,
        actor=actor,
        subject=str(key),
        source=source,
        commit=commit,
        payload={"object": str(key), "applied_from": annotations.get("gatekeeper.dev/commit")},
    )


def drift_detected(
    *,
    source: str,
    commit: str,
    item: DesiredObject,
    changes: Sequence[compare.FieldChange],
    actors: Sequence[drift.Actor],
    missing: bool,
    mode: str,
    secret_digest: SecretDigest,
    admitted: Sequence[AdmittedChange] = (),
) -> NewEvent:
    """The drift of one object. Its actor is the newest user the webhook let change the
    object (`admitted`, newest first), else the field manager that owns the drifted fields;
    `break_glass_seq` links the newest break-glass record among those changes."""
    manager = actors[0].manager if actors else "unknown"
    actor = admitted[0].user if admitted else manager
    payload: dict[str, Any] = {
        "object": str(item.key),
        "path": item.path,
        "missing": missing,
        "mode": mode,
        "diff": [_redacted(item.key, change, secret_digest) for change in changes],
        "changed_by": [a.to_dict() for a in actors],
        "break_glass_seq": next(
            (change.seq for change in admitted if change.decision == events.BREAKGLASS), None
        ),
    }
    if admitted:
        payload["admitted_changes"] = [change.to_dict() for change in admitted]
    return NewEvent(
        kind=events.DRIFT_DETECTED,
        actor=actor[:256],
        subject=str(item.key),
        source=source,
        commit=commit,
        payload=payload,
    )


SecretDigest = Callable[[Any], str]


def _redacted(
    key: ObjectKey, change: compare.FieldChange, secret_digest: SecretDigest
) -> dict[str, Any]:
    """A diff entry; a Secret's values are replaced by their keyed digests, never stored
    (the same digests the store makes of Secrets anywhere else in a record)."""
    entry = change.to_dict()
    if key.kind == "Secret" and key.api_group == "":
        for side in ("desired", "live"):
            if entry[side] != compare.MISSING:
                entry[side] = secret_digest(entry[side])
    return entry


def drift_corrected(
    *,
    source: str,
    commit: str,
    actor: str,
    item: DesiredObject,
    missing: bool,
    changes: Sequence[compare.FieldChange],
    mode: str,
    detected_seq: int | None,
    secret_digest: SecretDigest,
    skipped: Sequence[Skip] = (),
) -> NewEvent:
    """One drifted object applied again: the `drift.detected` record it answers and the
    fields it set back (a Secret's values as digests, as in that record)."""
    payload: dict[str, Any] = {
        "object": str(item.key),
        "missing": missing,
        "fields": len(changes),
        "detected_seq": detected_seq,
        "changes": [_redacted(item.key, change, secret_digest) for change in changes],
        "mode": mode,
    }
    _note_skips(payload, skipped)
    return NewEvent(
        kind=events.DRIFT_CORRECTED,
        actor=actor,
        subject=str(item.key),
        source=source,
        commit=commit,
        payload=payload,
    )


def health_event(
    *,
    source: str,
    commit: str,
    actor: str,
    verdict: health.Verdict,
    healthy: bool,
    reason: str = "",
) -> NewEvent:
    payload = verdict.to_dict()
    if reason:
        payload["reason"] = reason
    return NewEvent(
        kind=SYNC_HEALTHY if healthy else SYNC_UNHEALTHY,
        actor=actor,
        subject=f"source/{source}",
        source=source,
        commit=commit,
        payload=payload,
    )


def rollback(*, source: str, rollback: Rollback) -> NewEvent:
    return NewEvent(
        kind=events.ROLLBACK,
        actor=rollback.requested_by,
        subject=f"source/{source}",
        source=source,
        commit=rollback.to,
        payload=_rollback_payload(rollback),
    )


def _rollback_payload(rollback: Rollback) -> dict[str, Any]:
    """A rollback as its record says it, and as the `sync.applied` it causes repeats it."""
    return {
        "from": rollback.from_commit,
        "to": rollback.to,
        "head": rollback.head,
        "reason": rollback.reason,
        "requested_by": rollback.requested_by,
        "automatic": rollback.automatic,
    }
