"""The audit records a pass writes: one builder per event kind, so payloads stay uniform."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from gatekeeper.audit import events
from gatekeeper.audit.events import NewEvent
from gatekeeper.canonical import manifest_digest
from gatekeeper.kube import compare
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.reconcile import drift, health
from gatekeeper.reconcile.desired import Skip
from gatekeeper.reconcile.history import SYNC_HEALTHY, SYNC_UNHEALTHY, AdmittedChange


def object_entry(item: DesiredObject) -> dict[str, str]:
    return {"object": str(item.key), "path": item.path, "digest": item.digest}


def applied(
    *,
    source: str,
    commit: str,
    actor: str,
    objects: Sequence[DesiredObject],
    changed: Sequence[DesiredObject],
    kinds: Sequence[str],
    since: str | None,
    signer: str | None,
    rollback: bool = False,
    warnings: Sequence[Mapping[str, Any]] = (),
    skipped: Sequence[Skip] = (),
) -> NewEvent:
    """The apply of a commit's objects; `skipped` names the gates not run on it, and why."""
    payload: dict[str, Any] = {
        "since": since,
        "signer": signer,
        "rollback": rollback,
        "applied": [str(item.key) for item in changed],
        "objects": [object_entry(item) for item in objects],
        "kinds": list(kinds),
        "warnings": [dict(w) for w in warnings],
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


def rejected(
    *,
    source: str,
    commit: str,
    actor: str,
    since: str | None,
    reasons: Sequence[Mapping[str, Any]],
    policy_set_version: str,
) -> NewEvent:
    return NewEvent(
        kind=events.SYNC_REJECTED,
        actor=actor,
        subject=f"source/{source}",
        source=source,
        commit=commit,
        payload={
            "since": since,
            "kept": since,
            "reasons": [dict(r) for r in reasons],
            "policy_set_version": policy_set_version,
        },
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
    admitted: Sequence[AdmittedChange] = (),
) -> NewEvent:
    """The drift of one object. Its actor is the newest user the webhook let change the
    object (`admitted`, newest first), else the field manager that owns the drifted fields."""
    manager = actors[0].manager if actors else "unknown"
    actor = admitted[0].user if admitted else manager
    payload: dict[str, Any] = {
        "object": str(item.key),
        "path": item.path,
        "missing": missing,
        "mode": mode,
        "diff": [_redacted(item.key, change) for change in changes],
        "changed_by": [a.to_dict() for a in actors],
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


def _redacted(key: ObjectKey, change: compare.FieldChange) -> dict[str, Any]:
    """A diff entry; a Secret's values are replaced by their digests, never stored."""
    entry = change.to_dict()
    if key.kind == "Secret" and key.api_group == "":
        for side in ("desired", "live"):
            if entry[side] != compare.MISSING:
                entry[side] = manifest_digest(entry[side])
    return entry


def drift_corrected(
    *,
    source: str,
    commit: str,
    actor: str,
    item: DesiredObject,
    missing: bool,
    fields: int,
    skipped: Sequence[Skip] = (),
) -> NewEvent:
    payload: dict[str, Any] = {"object": str(item.key), "missing": missing, "fields": fields}
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


def rollback(
    *,
    source: str,
    to: str,
    from_commit: str | None,
    head: str | None,
    reason: str,
    requested_by: str,
    automatic: bool,
) -> NewEvent:
    return NewEvent(
        kind=events.ROLLBACK,
        actor=requested_by,
        subject=f"source/{source}",
        source=source,
        commit=to,
        payload={
            "from": from_commit,
            "to": to,
            "head": head,
            "reason": reason,
            "requested_by": requested_by,
            "automatic": automatic,
        },
    )
