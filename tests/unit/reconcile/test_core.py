"""The reconcile core on plain values: what a pass plans, and what it records for what happened."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gatekeeper.audit import events
from gatekeeper.audit.secret_digest import SecretDigester
from gatekeeper.canonical import manifest_digest
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.reconcile import core, planner
from gatekeeper.reconcile.desired import Desired, Signature, SkipPolicies, SkipProvenance
from gatekeeper.reconcile.history import AdmittedChange
from gatekeeper.reconcile.intent import Purpose, Rollback, Sync
from tests.unit.reconcile.fakes import KINDS, NAMESPACE, SOURCE, source_settings

OLD = "1" * 40
NEW = "2" * 40


def _config_map(name: str, **data: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": data,
    }


def _desired(*manifests: dict[str, Any], commit: str = NEW, **extra: Any) -> Desired:
    objects = tuple(
        DesiredObject(key=ObjectKey.of(m), path=f"apps/{m['metadata']['name']}.yaml", manifest=m)
        for m in manifests
    )
    return Desired(
        source=SOURCE,
        commit=commit,
        objects=objects,
        resources={item.key: KINDS[("v1", "ConfigMap")] for item in objects},
        custom_kinds=frozenset(),
        signature=Signature(signer="alice"),
        **extra,
    )


def _live(manifest: dict[str, Any], *, commit: str) -> dict[str, Any]:
    item = DesiredObject(key=ObjectKey.of(manifest), path="", manifest=manifest)
    obj = planner.expected(item, source=SOURCE, commit=commit)
    obj["metadata"]["uid"] = "server-set"
    return obj


DIGESTER = SecretDigester(b"k" * 32)


def _plan(
    desired: Desired,
    *live: dict[str, Any],
    synced: str | None = OLD,
    purpose: Purpose | None = None,
    **settings: Any,
) -> core.PassPlan:
    return core.plan(
        core.Facts(
            source=source_settings(**settings),
            desired=desired,
            live={ObjectKey.of(obj): obj for obj in live},
            synced_commit=synced,
            purpose=purpose or Sync(),
            actor="gatekeeper-reconciler",
            secret_digest=DIGESTER.digest,
        )
    )


def _kinds(accounted: core.Accounted) -> list[str]:
    return [record.kind for record in accounted.records]


def test_a_first_sync_plans_every_object_and_records_one_sync_applied() -> None:
    decided = _plan(_desired(_config_map("a"), _config_map("b")), synced=None)

    accounted = core.account(decided, core.Executed())

    assert decided.apply
    assert [item.key.name for item in decided.objects.to_apply] == ["a", "b"]
    assert _kinds(accounted) == [events.SYNC_APPLIED]
    assert accounted.records[0].payload["since"] is None
    assert (accounted.result.outcome, accounted.result.applied) == ("applied", 2)
    assert accounted.judge_health


def test_a_synced_commit_that_matches_the_cluster_plans_nothing_and_records_nothing() -> None:
    manifest = _config_map("a", k="v")

    decided = _plan(_desired(manifest), _live(manifest, commit=NEW), synced=NEW)
    accounted = core.account(decided, core.Executed())

    assert not decided.apply
    assert (decided.correct, decided.prune) == ((), ())
    assert accounted.records == ()
    assert accounted.result.outcome == "unchanged"


def test_a_new_commit_applies_what_differs_and_prunes_what_it_no_longer_has() -> None:
    kept, gone = _config_map("kept", k="v"), _config_map("gone")

    decided = _plan(_desired(kept), _live(kept, commit=OLD), _live(gone, commit=OLD))

    assert [item.key.name for item in decided.objects.to_apply] == ["kept"]
    assert [obj["metadata"]["name"] for obj in decided.prune] == ["gone"]


def test_with_prune_off_stale_objects_are_left_alone() -> None:
    decided = _plan(_desired(), _live(_config_map("gone"), commit=OLD), prune=False)

    assert decided.prune == ()


def test_a_difference_on_the_synced_commit_is_drift_to_correct_not_a_change() -> None:
    manifest = _config_map("a", k="v")
    live = _live(manifest, commit=NEW)
    live["data"]["k"] = "edited"

    decided = _plan(_desired(manifest), live, synced=NEW)

    assert not decided.apply
    assert [found.desired.key.name for found in decided.drifted] == ["a"]
    assert [[item.key.name for item in tier] for tier in decided.correct] == [["a"]]


def test_in_report_mode_drift_is_recorded_and_nothing_is_planned_to_correct_it() -> None:
    manifest = _config_map("a", k="v")

    decided = _plan(_desired(manifest), synced=NEW, drift="report")
    (detected,) = core.detections(decided, {})
    accounted = core.account(decided, core.Executed(detected={decided.drifted[0].desired.key: 5}))

    assert decided.correct == ()
    assert detected.kind == events.DRIFT_DETECTED
    assert (detected.payload["missing"], detected.payload["break_glass_seq"]) == (True, None)
    assert accounted.records == ()
    assert accounted.result.drifted == 1


def _admitted(seq: int, user: str, decision: str) -> AdmittedChange:
    return AdmittedChange(
        seq=seq,
        time="2027-01-15T10:00:00+00:00",
        user=user,
        groups=("gatekeeper:break-glass",),
        operation="UPDATE",
        decision=decision,
        reason="INC-7",
    )


def test_drift_names_the_newest_user_the_webhook_let_change_the_object_and_its_break_glass() -> (
    None
):
    manifest = _config_map("a", k="v")
    decided = _plan(_desired(manifest), synced=NEW)
    # Newest first: an exempt user after carol's break-glass.
    admitted = [
        _admitted(9, "ops-bot", events.ADMISSION_ALLOWED),
        _admitted(7, "carol", events.BREAKGLASS),
    ]

    (detected,) = core.detections(decided, {decided.drifted[0].desired.key: admitted})

    assert (detected.kind, detected.actor) == (events.DRIFT_DETECTED, "ops-bot")
    assert [c["seq"] for c in detected.payload["admitted_changes"]] == [9, 7]
    assert detected.payload["break_glass_seq"] == 7


def test_a_correction_names_its_detection_and_the_fields_it_set_back() -> None:
    manifest = _config_map("a", k="v", other="same")
    live = _live(manifest, commit=NEW)
    live["data"]["k"] = "edited"
    decided = _plan(_desired(manifest), live, synced=NEW)

    accounted = core.account(decided, core.Executed(detected={decided.drifted[0].desired.key: 12}))

    (corrected,) = accounted.records
    assert (corrected.kind, corrected.actor) == (events.DRIFT_CORRECTED, "gatekeeper-reconciler")
    assert corrected.payload == {
        "object": f"ConfigMap/{NAMESPACE}/a",
        "missing": False,
        "fields": 1,
        "detected_seq": 12,
        "changes": [{"path": "data.k", "desired": "v", "live": "edited"}],
        "mode": "correct",
    }


def test_a_corrected_secret_names_its_fields_by_digest_only() -> None:
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": NAMESPACE},
        "data": {"password": "c2VjcmV0"},
    }
    live = _live(secret, commit=NEW)
    live["data"]["password"] = "bGVha2Vk"
    decided = _plan(_desired(secret), live, synced=NEW)

    (detected,) = core.detections(decided, {})
    (corrected,) = core.account(decided, core.Executed()).records

    (change,) = corrected.payload["changes"]
    assert change == detected.payload["diff"][0]
    assert change["desired"] == DIGESTER.digest("c2VjcmV0")
    assert change["desired"] != manifest_digest("c2VjcmV0")  # keyed, not a bare hash
    assert "bGVha2Vk" not in str(corrected.payload)


def test_a_failed_apply_is_recorded_as_one_sync_failed_and_nothing_after_it() -> None:
    decided = _plan(
        _desired(_config_map("a"), _config_map("b")), _live(_config_map("c"), commit=OLD)
    )
    a, b = (item.key for item in decided.objects.to_apply)
    failure = core.ApplyFailure("b: HTTP 422", applied=(a,), not_applied=(b,))

    accounted = core.account(
        decided,
        core.Executed(apply_failure=failure, deletions=(core.Deletion(decided.prune[0], True),)),
    )

    (failed,) = accounted.records
    assert (failed.kind, failed.payload["stage"]) == (events.SYNC_FAILED, "apply")
    assert (failed.payload["applied"], failed.payload["not_applied"]) == (
        [f"ConfigMap/{NAMESPACE}/a"],
        [f"ConfigMap/{NAMESPACE}/b"],
    )
    assert (accounted.result.outcome, accounted.result.message) == ("failed", "b: HTTP 422")
    assert not accounted.judge_health


def test_a_failed_correction_is_recorded_at_stage_drift_instead_of_as_corrected() -> None:
    decided = _plan(_desired(_config_map("a")), synced=NEW)
    key = decided.drifted[0].desired.key

    accounted = core.account(
        decided, core.Executed(correction_failure=core.ApplyFailure("boom", (), (key,)))
    )

    assert _kinds(accounted) == [events.SYNC_FAILED]
    assert accounted.records[0].payload["stage"] == "drift"
    assert accounted.result.outcome == "unchanged"


def test_each_deletion_is_accounted_for_on_its_own() -> None:
    stale = [_live(_config_map(name), commit=OLD) for name in ("gone", "refused", "vanished")]
    decided = _plan(_desired(), *stale)
    gone, refused, vanished = decided.prune

    accounted = core.account(
        decided,
        core.Executed(
            deletions=(
                core.Deletion(gone, deleted=True),
                core.Deletion(refused, deleted=False, error="HTTP 403"),
                core.Deletion(vanished, deleted=False),
            )
        ),
    )

    assert _kinds(accounted) == [events.SYNC_APPLIED, events.PRUNED, events.SYNC_FAILED]
    assert accounted.records[1].subject == f"ConfigMap/{NAMESPACE}/gone"
    assert accounted.records[2].payload == {
        "stage": "prune",
        "error": "HTTP 403",
        "applied": [],
        "not_applied": [f"ConfigMap/{NAMESPACE}/refused"],
    }
    assert accounted.result.pruned == 1


def _stale(kind: str, name: str) -> dict[str, Any]:
    metadata = {"name": name, "namespace": NAMESPACE}
    return _live({"apiVersion": "v1", "kind": kind, "metadata": metadata}, commit=OLD)


def test_a_sync_records_the_kinds_of_the_stale_objects_it_did_not_delete() -> None:
    decided = _plan(
        _desired(_config_map("kept")),
        _stale("ConfigMap", "gone"),
        _stale("Secret", "vanished"),
        _stale("Service", "refused"),
        _stale("ServiceAccount", "stopped"),
        _stale("PersistentVolumeClaim", "not-reached"),
    )
    by_name = {obj["metadata"]["name"]: obj for obj in decided.prune}

    accounted = core.account(
        decided,
        core.Executed(
            deletions=(
                core.Deletion(by_name["gone"], deleted=True),
                core.Deletion(by_name["vanished"], deleted=False),
                core.Deletion(by_name["refused"], deleted=False, error="HTTP 403"),
                core.Deletion(by_name["stopped"], deleted=False, error="asked to stop"),
            )
        ),
    )

    applied = accounted.records[0].payload
    assert applied["kinds"] == ["v1|ConfigMap"]  # the commit's own, as before
    assert applied["stale_kinds"] == [
        "v1|PersistentVolumeClaim",
        "v1|Service",
        "v1|ServiceAccount",
    ]


def test_a_sync_that_deleted_every_stale_object_records_no_stale_kind() -> None:
    decided = _plan(_desired(), _stale("ConfigMap", "gone"))

    accounted = core.account(
        decided, core.Executed(deletions=(core.Deletion(decided.prune[0], deleted=True),))
    )

    assert accounted.records[0].payload["stale_kinds"] == []


def _rollback(to: str = OLD) -> Rollback:
    return Rollback(
        to=to,
        from_commit=NEW,
        head=NEW,
        reason="v2 breaks checkout",
        requested_by="alice",
        automatic=False,
    )


def test_a_rollback_applies_as_its_requester_and_records_the_rollback_last() -> None:
    manifest = _config_map("a", v="1")
    skip = SkipProvenance(reason="verified before", signature=Signature(signer="alice"))
    desired = _desired(manifest, commit=OLD, skipped=(skip,))

    decided = _plan(
        desired, _live(_config_map("a", v="2"), commit=NEW), synced=NEW, purpose=_rollback()
    )
    accounted = core.account(decided, core.Executed())

    applied, rollback = accounted.records
    assert (applied.kind, applied.actor, applied.payload["rollback"]) == (
        events.SYNC_APPLIED,
        "alice",
        True,
    )
    assert applied.payload["skipped_gates"] == [{"gate": "provenance", "reason": "verified before"}]
    assert (rollback.kind, rollback.commit, rollback.payload["from"]) == (events.ROLLBACK, OLD, NEW)
    assert (accounted.result.outcome, accounted.result.commit) == ("rolled_back", OLD)
    assert not accounted.judge_health


def test_a_rollback_to_the_synced_commit_still_applies_and_records_it() -> None:
    manifest = _config_map("a")

    decided = _plan(
        _desired(manifest, commit=OLD), _live(manifest, commit=OLD), synced=OLD, purpose=_rollback()
    )

    assert decided.apply
    assert _kinds(core.account(decided, core.Executed())) == [events.SYNC_APPLIED, events.ROLLBACK]


def test_the_facts_of_a_rollback_must_be_those_of_the_commit_it_returns_to() -> None:
    with pytest.raises(ValueError, match="commit it returns to"):
        _plan(_desired(commit=NEW), purpose=_rollback(to=OLD))


def test_corrections_made_from_a_commit_whose_gates_were_skipped_say_so() -> None:
    skips = (SkipProvenance(reason="synced before"), SkipPolicies(reason="passed then"))
    decided = _plan(_desired(_config_map("a"), skipped=skips), synced=NEW)

    (corrected,) = core.account(decided, core.Executed()).records

    assert corrected.payload["skipped_gates"] == [
        {"gate": "provenance", "reason": "synced before"},
        {"gate": "policies", "reason": "passed then"},
    ]


def test_only_the_objects_whose_manifest_changed_are_in_changed_with_both_digests() -> None:
    before, after = _config_map("settings", color="blue"), _config_map("settings", color="red")
    same, gone = _config_map("same", k="v"), _config_map("gone")
    desired = _desired(after, same, _config_map("new"))
    decided = _plan(
        desired, _live(before, commit=OLD), _live(same, commit=OLD), _live(gone, commit=OLD)
    )

    accounted = core.account(
        decided, core.Executed(deletions=(core.Deletion(decided.prune[0], deleted=True),))
    )

    applied = accounted.records[0].payload
    # Every object is applied (the commit annotation moves on); only two really changed.
    assert applied["applied"] == [f"ConfigMap/{NAMESPACE}/{n}" for n in ("new", "same", "settings")]
    assert applied["changed"] == [
        {
            "object": f"ConfigMap/{NAMESPACE}/new",
            "path": "apps/new.yaml",
            "digest_before": None,
            "digest_after": manifest_digest(_config_map("new")),
        },
        {
            "object": f"ConfigMap/{NAMESPACE}/settings",
            "path": "apps/settings.yaml",
            "digest_before": manifest_digest(before),
            "digest_after": manifest_digest(after),
        },
        {
            "object": f"ConfigMap/{NAMESPACE}/gone",
            "path": None,
            "digest_before": manifest_digest(gone),
            "digest_after": None,
        },
    ]
    assert applied["unchanged"] == 1


def test_the_sync_a_rollback_causes_carries_the_rollback_it_does() -> None:
    verified_at = datetime(2027, 1, 15, 10, 0, tzinfo=UTC)
    skip = SkipProvenance(
        reason="verified before",
        signature=Signature(signer="bob", key_id="SHA256:bob", format="ssh"),
        verified_at=verified_at,
    )
    desired = _desired(_config_map("a", v="1"), commit=OLD, skipped=(skip,), provenance=skip)
    decided = _plan(
        desired, _live(_config_map("a", v="2"), commit=NEW), synced=NEW, purpose=_rollback()
    )

    applied, rollback = core.account(decided, core.Executed()).records

    assert applied.payload["rollback"] is True
    assert applied.payload["rollback_of"] == rollback.payload
    assert rollback.payload == {
        "from": NEW,
        "to": OLD,
        "head": NEW,
        "reason": "v2 breaks checkout",
        "requested_by": "alice",
        "automatic": False,
    }
    # The provenance gate was skipped: the record restates the ledger, not a verification.
    assert applied.payload["verification"] == "ledger"
    assert applied.payload["commits"] == [
        {
            "sha": OLD,
            "author": None,
            "time": None,
            "signer": "bob",
            "key": "SHA256:bob",
            "format": "ssh",
            "paths": None,
            "path_list": None,
            "rules": None,
            "verified_at": "2027-01-15T10:00:00.000000Z",
        }
    ]
    assert applied.payload["rules"] is None


def test_an_ordinary_sync_says_it_is_no_rollback() -> None:
    (applied,) = core.account(
        _plan(_desired(_config_map("a")), synced=None), core.Executed()
    ).records

    assert (applied.payload["rollback"], applied.payload["rollback_of"]) == (False, None)
