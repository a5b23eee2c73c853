"""The reconcile core: pure functions from what a pass found to what it does and records.

The shell (`Reconciler`) fetches, verifies, renders and lists the live objects; `plan` decides
what to apply, correct and prune; the shell does exactly that and reports what happened
(`Executed`); `account` turns the plan and what happened into the audit records to write and
the pass's result. Drift is recorded before it is corrected (`detections`), so that each
correction names the record of its detection. Nothing here reads or writes anything.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from gatekeeper.audit.events import NewEvent
from gatekeeper.kube import contract
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.reconcile import drift, journal, planner
from gatekeeper.reconcile.desired import CREATED_NAMESPACE_ANNOTATION, Desired
from gatekeeper.reconcile.history import AdmittedChange
from gatekeeper.reconcile.intent import Purpose, Rollback, Sync
from gatekeeper.reconcile.results import Outcome, PassResult
from gatekeeper.settings import SourceSettings

Tiers = tuple[tuple[DesiredObject, ...], ...]


@dataclass(frozen=True, kw_only=True)
class Facts:
    """What a pass found: the commit's desired objects, the live ones, and the ledger."""

    source: SourceSettings
    desired: Desired
    live: Mapping[ObjectKey, Mapping[str, Any]]
    synced_commit: str | None  # what the last `sync.applied` brought
    purpose: Purpose
    actor: str  # the reconciler's own name in the records
    # The store's keyed digest: a drifted Secret's values are recorded only through it.
    secret_digest: Callable[[Any], str]

    def __post_init__(self) -> None:
        if isinstance(self.purpose, Rollback) and self.purpose.to != self.desired.commit:
            raise ValueError("a rollback's facts must be those of the commit it returns to")

    @property
    def synced(self) -> bool:
        """The live state already came from this commit: any difference is drift."""
        return isinstance(self.purpose, Sync) and self.synced_commit == self.desired.commit


@dataclass(frozen=True)
class PassPlan:
    """What the shell does, in order: apply, look for who drifted, correct, prune."""

    facts: Facts
    objects: planner.Plan
    apply: bool  # the apply step runs, and `sync.applied` is recorded when it succeeds
    correct: Tiers  # drifted objects applied again (`drift: correct`)
    prune: tuple[Mapping[str, Any], ...]  # stale objects to delete (`prune: true`)

    @property
    def drifted(self) -> tuple[planner.Drifted, ...]:
        return self.objects.drifted


@dataclass(frozen=True)
class ApplyFailure:
    """An apply that stopped part-way: what was and was not applied."""

    error: str
    applied: tuple[ObjectKey, ...]
    not_applied: tuple[ObjectKey, ...]


@dataclass(frozen=True)
class Deletion:
    """What deleting one stale object did: deleted it, found it gone already, or failed."""

    obj: Mapping[str, Any]
    deleted: bool
    error: str | None = None


@dataclass(frozen=True)
class Executed:
    """What the shell reports back after doing a plan."""

    apply_failure: ApplyFailure | None = None  # when set, nothing after the apply ran
    # The sequence number of each drifted object's `drift.detected` (`detections`), written
    # before the corrections.
    detected: Mapping[ObjectKey, int] = field(default_factory=dict)
    correction_failure: ApplyFailure | None = None
    deletions: tuple[Deletion, ...] = ()


@dataclass(frozen=True)
class Accounted:
    """The records a pass writes (in one go) and its result."""

    records: tuple[NewEvent, ...]
    result: PassResult
    judge_health: bool  # the pass goes on to judge the commit's workloads


def plan(facts: Facts) -> PassPlan:
    """Decide a pass: what to apply, which drift to correct, what to prune."""
    desired, source = facts.desired, facts.source
    objects = planner.plan(
        desired.objects,
        facts.live,
        source=source.name,
        commit=desired.commit,
        synced=facts.synced,
        custom_kinds=desired.custom_kinds,
    )
    correct: Tiers = ()
    if source.drift == "correct" and objects.drifted:
        items = [found.desired for found in objects.drifted]
        correct = planner.group(items, custom_kinds=desired.custom_kinds)
    return PassPlan(
        facts=facts,
        objects=objects,
        apply=bool(objects.to_apply) or not facts.synced,
        correct=correct,
        prune=tuple(item for item in objects.prune if not _created_namespace(item))
        if source.prune
        else (),
    )


def _created_namespace(live: Mapping[str, Any]) -> bool:
    """A Namespace made by `createNamespace`: kept when the source no longer asks for it."""
    annotations = (live.get("metadata") or {}).get("annotations") or {}
    return live.get("kind") == "Namespace" and CREATED_NAMESPACE_ANNOTATION in annotations


def detections(
    decided: PassPlan, witnesses: Mapping[ObjectKey, Sequence[AdmittedChange]]
) -> tuple[NewEvent, ...]:
    """One `drift.detected` per drifted object, in the plan's order, naming who changed it:
    the webhook's witnesses first, else the field managers that own the drifted fields.
    The shell writes them before it corrects anything and reports their sequence numbers
    back (`Executed.detected`)."""
    facts = decided.facts
    return tuple(
        journal.drift_detected(
            source=facts.source.name,
            commit=facts.desired.commit,
            item=found.desired,
            changes=found.changes,
            actors=(
                drift.actors(found.live, found.changes, ignore=contract.FIELD_MANAGER)
                if found.live is not None
                else []
            ),
            missing=found.missing,
            mode=facts.source.drift,
            secret_digest=facts.secret_digest,
            admitted=witnesses.get(found.desired.key, ()),
        )
        for found in decided.drifted
    )


def account(decided: PassPlan, executed: Executed) -> Accounted:
    """The records and the result of a plan, given what its execution did (the drift it
    found is recorded already: `detections`)."""
    facts = decided.facts
    name, commit = facts.source.name, facts.desired.commit
    if executed.apply_failure is not None:
        failed = PassResult(name, "failed", commit, message=executed.apply_failure.error)
        record = _failed(facts, executed.apply_failure, stage="apply")
        return Accounted((record,), failed, judge_health=False)
    to_apply = decided.objects.to_apply
    stale = stale_kinds(decided.prune, executed.deletions)
    records = [_applied(facts, to_apply, executed.deletions, stale)] if decided.apply else []
    if decided.correct:
        records.extend(_corrected(facts, decided.drifted, executed))
    records.extend(_pruned(facts, executed.deletions))
    pruned = sum(1 for deletion in executed.deletions if deletion.deleted)
    purpose = facts.purpose
    outcome: Outcome = "unchanged" if facts.synced else "applied"
    if isinstance(purpose, Rollback):
        outcome = "rolled_back"
        records.append(journal.rollback(source=name, rollback=purpose))
    result = PassResult(
        name, outcome, commit, applied=len(to_apply), pruned=pruned, drifted=len(decided.drifted)
    )
    return Accounted(tuple(records), result, judge_health=isinstance(purpose, Sync))


def _applied(
    facts: Facts,
    to_apply: Sequence[DesiredObject],
    deletions: Sequence[Deletion],
    stale: Sequence[str],
) -> NewEvent:
    desired, purpose = facts.desired, facts.purpose
    rollback = purpose if isinstance(purpose, Rollback) else None
    return journal.applied(
        source=facts.source.name,
        commit=desired.commit,
        actor=rollback.requested_by if rollback is not None else facts.actor,
        objects=desired.objects,
        to_apply=to_apply,
        kinds=desired.kinds,
        stale_kinds=stale,
        since=facts.synced_commit,
        signer=desired.signature.signer,
        provenance=desired.provenance,
        policies=desired.policies,
        changes=changed_objects(facts.live, to_apply, deletions),
        rollback_of=rollback,
        skipped=desired.skipped,
        rendered_from=desired.files,
        fetched=desired.fetched,
    )


def stale_kinds(prune: Sequence[Mapping[str, Any]], deletions: Sequence[Deletion]) -> list[str]:
    """The kinds (`apiVersion|kind`) of the objects a pass meant to prune and did not see go:
    the deletion failed, or was never made (the pass stopped first). The sync records them
    so that the next pass lists those kinds again, even when no commit has them any more:
    otherwise the last object of a kind would be left behind for good, and never reported."""
    gone = {ObjectKey.of(deletion.obj) for deletion in deletions if deletion.error is None}
    left = (obj for obj in prune if ObjectKey.of(obj) not in gone)
    return sorted({f"{obj['apiVersion']}|{obj['kind']}" for obj in left})


def changed_objects(
    live: Mapping[ObjectKey, Mapping[str, Any]],
    applied: Sequence[DesiredObject],
    deletions: Sequence[Deletion],
) -> list[journal.ObjectChange]:
    """The objects a sync really changed: those applied whose manifest digest differs from
    the one the live object carried before (or that did not exist), then those deleted.
    An object applied only to move its commit annotation on is not among them."""
    found: list[journal.ObjectChange] = []
    for item in applied:
        before = _digest(live.get(item.key))
        if before != item.digest:
            found.append(journal.ObjectChange(str(item.key), item.path, before, item.digest))
    for deletion in deletions:
        if deletion.deleted:
            key = str(ObjectKey.of(deletion.obj))
            found.append(journal.ObjectChange(key, None, _digest(deletion.obj), None))
    return found


def _digest(obj: Mapping[str, Any] | None) -> str | None:
    """The manifest digest an object carries (its provenance annotation), if any."""
    annotations = ((obj or {}).get("metadata") or {}).get("annotations") or {}
    digest = annotations.get(contract.DIGEST_ANNOTATION)
    return digest if isinstance(digest, str) and digest else None


def _corrected(
    facts: Facts, drifted: Sequence[planner.Drifted], executed: Executed
) -> list[NewEvent]:
    """One `drift.corrected` each, naming its detection, or one `sync.failed` when applying
    them again failed."""
    if executed.correction_failure is not None:
        return [_failed(facts, executed.correction_failure, stage="drift")]
    return [
        journal.drift_corrected(
            source=facts.source.name,
            commit=facts.desired.commit,
            actor=facts.actor,
            item=found.desired,
            missing=found.missing,
            changes=found.changes,
            mode=facts.source.drift,
            detected_seq=executed.detected.get(found.desired.key),
            secret_digest=facts.secret_digest,
            skipped=facts.desired.skipped,
        )
        for found in drifted
    ]


def _pruned(facts: Facts, deletions: Sequence[Deletion]) -> list[NewEvent]:
    """One `sync.pruned` per object deleted, one `sync.failed` per deletion that failed."""
    records: list[NewEvent] = []
    for deletion in deletions:
        if deletion.error is not None:
            failure = ApplyFailure(deletion.error, (), (ObjectKey.of(deletion.obj),))
            records.append(_failed(facts, failure, stage="prune"))
        elif deletion.deleted:
            records.append(
                journal.pruned(
                    source=facts.source.name,
                    commit=facts.desired.commit,
                    actor=facts.actor,
                    obj=deletion.obj,
                )
            )
    return records


def _failed(facts: Facts, failure: ApplyFailure, *, stage: str) -> NewEvent:
    return journal.failed(
        source=facts.source.name,
        commit=facts.desired.commit,
        actor=facts.actor,
        error=failure.error,
        applied=failure.applied,
        not_applied=failure.not_applied,
        stage=stage,
    )
