"""The reconciler over in-memory Git, cluster and store: the core's decisions, end to end, fast."""

from __future__ import annotations

from typing import Any

import pytest

from gatekeeper.audit import chain, events
from gatekeeper.audit.events import NewEvent
from gatekeeper.kube import contract
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.policy.policyset import policy_set_version
from gatekeeper.provenance.verdicts import MatchedRule
from gatekeeper.reconcile.errors import RollbackRefused
from gatekeeper.reconcile.history import SYNC_HEALTHY, SYNC_UNHEALTHY
from tests.unit.reconcile.fakes import NAMESPACE, SOURCE, World, config_map, deployment, managed


def _data(world: World, name: str) -> Any:
    found = world.cluster.get("ConfigMap", name)
    assert found is not None, f"ConfigMap {name} is not in the cluster"
    return found["data"]


def _commit_of(world: World, kind: str, name: str, group: str = "") -> str:
    found = world.cluster.get(kind, name, group=group)
    assert found is not None
    return str(found["metadata"]["annotations"][contract.COMMIT_ANNOTATION])


def test_a_first_sync_applies_every_object_with_its_provenance_and_records_it(
    world: World,
) -> None:
    sha = world.git.commit(
        {
            "apps/settings.yaml": config_map("settings", {"color": "blue"}),
            "apps/web.yaml": deployment("web", "nginx:1.25"),
        }
    )

    result = world.reconciler().reconcile(SOURCE)

    assert (result.outcome, result.commit, result.applied) == ("applied", sha, 2)
    assert managed(world.cluster) == ["settings", "web"]
    settings = world.cluster.get("ConfigMap", "settings")
    assert settings is not None
    annotations = settings["metadata"]["annotations"]
    assert annotations[contract.SOURCE_ANNOTATION] == SOURCE
    assert annotations[contract.COMMIT_ANNOTATION] == sha
    assert world.ledger.verified_commit(SOURCE, sha) is not None
    assert len(world.ledger.objects[(SOURCE, sha)]) == 2
    (applied,) = world.store.of(events.SYNC_APPLIED)
    assert applied.commit == sha
    assert applied.payload["since"] is None
    assert applied.payload["signer"] == "alice"
    assert sorted(applied.payload["applied"]) == [
        f"ConfigMap/{NAMESPACE}/settings",
        f"apps/Deployment/{NAMESPACE}/web",
    ]
    assert "skipped_gates" not in applied.payload


def test_a_second_pass_on_the_same_commit_applies_nothing_and_records_nothing(
    world: World,
) -> None:
    world.git.commit({"apps/settings.yaml": config_map("settings", {"color": "blue"})})
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    applies, records = len(world.cluster.applied), len(world.store.records)

    again = reconciler.reconcile(SOURCE)

    assert (again.outcome, again.applied, again.drifted, again.pruned) == ("unchanged", 0, 0, 0)
    assert len(world.cluster.applied) == applies
    assert len(world.store.records) == records


def test_a_new_commit_that_changes_one_object_applies_that_object_and_moves_the_rest_along(
    world: World,
) -> None:
    first = world.git.commit(
        {
            "apps/a.yaml": config_map("a", {"k": "v"}),
            "apps/b.yaml": config_map("b", {"k": "v"}),
        }
    )
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)

    second = world.git.commit({"apps/a.yaml": config_map("a", {"k": "changed"})})
    result = reconciler.reconcile(SOURCE)

    assert (result.outcome, result.commit) == ("applied", second)
    assert _data(world, "a") == {"k": "changed"}
    assert _commit_of(world, "ConfigMap", "b") == second  # its commit annotation moves on
    applied = world.store.of(events.SYNC_APPLIED)[-1]
    assert applied.payload["since"] == first
    assert len(applied.payload["objects"]) == 2


def test_an_object_removed_from_git_is_pruned_and_recorded(world: World) -> None:
    world.git.commit(
        {
            "apps/keep.yaml": config_map("keep", {"k": "v"}),
            "apps/gone.yaml": config_map("gone", {"k": "v"}),
        }
    )
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)

    sha = world.git.commit({"apps/gone.yaml": None})
    result = reconciler.reconcile(SOURCE)

    assert (result.outcome, result.pruned) == ("applied", 1)
    assert managed(world.cluster) == ["keep"]
    (pruned,) = world.store.of(events.PRUNED)
    assert (pruned.subject, pruned.commit) == (f"ConfigMap/{NAMESPACE}/gone", sha)


def test_with_prune_off_a_removed_object_stays(world: World) -> None:
    world.git.commit({"apps/a.yaml": config_map("a", {}), "apps/b.yaml": config_map("b", {})})
    reconciler = world.reconciler(world.source(prune=False))
    reconciler.reconcile(SOURCE)

    world.git.commit({"apps/a.yaml": None})
    result = reconciler.reconcile(SOURCE)

    assert (result.outcome, result.pruned) == ("applied", 0)
    assert managed(world.cluster) == ["a", "b"]
    assert world.store.of(events.PRUNED) == []


def _refused_settings_prune(world: World) -> ObjectKey:
    """The source drops its only ConfigMap, `settings`, and the cluster refuses to delete it."""
    world.git.commit(
        {
            "apps/settings.yaml": config_map("settings", {"k": "v"}),
            "apps/web.yaml": deployment("web", "nginx:1"),
        }
    )
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    settings = ObjectKey("", "ConfigMap", NAMESPACE, "settings")
    world.cluster.refuse_delete[settings] = "admission webhook denied the request"
    world.git.commit({"apps/settings.yaml": None})
    refused = reconciler.reconcile(SOURCE)
    assert (refused.outcome, refused.pruned) == ("applied", 0)
    (failed,) = world.store.of(events.SYNC_FAILED)
    assert (failed.payload["stage"], failed.payload["not_applied"]) == ("prune", [str(settings)])
    return settings


def test_an_object_whose_deletion_was_refused_is_pruned_later_though_git_has_no_more_of_its_kind(
    world: World,
) -> None:
    settings = _refused_settings_prune(world)
    removed = world.store.of(events.SYNC_APPLIED)[-1].commit

    del world.cluster.refuse_delete[settings]
    again = world.reconciler().reconcile(SOURCE)  # a restarted process: only the records remain

    assert (again.outcome, again.pruned) == ("unchanged", 1)
    assert managed(world.cluster) == ["web"]
    (pruned,) = world.store.of(events.PRUNED)
    assert (pruned.subject, pruned.commit) == (str(settings), removed)


def test_an_object_whose_deletion_keeps_failing_is_tried_and_recorded_at_every_pass(
    world: World,
) -> None:
    settings = _refused_settings_prune(world)

    world.git.commit({"apps/web.yaml": deployment("web", "nginx:2")})
    world.reconciler().reconcile(SOURCE)

    failed = world.store.of(events.SYNC_FAILED)
    assert [record.payload["not_applied"] for record in failed] == [[str(settings)]] * 2
    assert world.store.of(events.SYNC_APPLIED)[-1].payload["stale_kinds"] == ["v1|ConfigMap"]
    assert settings in world.cluster.objects


def test_once_the_stale_object_is_gone_its_kind_is_no_longer_listed(world: World) -> None:
    settings = _refused_settings_prune(world)
    del world.cluster.refuse_delete[settings]
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    world.git.commit({"apps/web.yaml": deployment("web", "nginx:2")})
    reconciler.reconcile(SOURCE)
    assert world.store.of(events.SYNC_APPLIED)[-1].payload["stale_kinds"] == []

    world.cluster.listed.clear()
    reconciler.reconcile(SOURCE)

    assert "v1|ConfigMap" not in world.cluster.listed


def _edit_color(world: World, value: str) -> None:
    def change(obj: dict[str, Any]) -> None:
        obj["data"]["color"] = value

    world.cluster.edit(
        "ConfigMap", "settings", change, manager="kubectl-edit", fields={"f:data": {"f:color": {}}}
    )


def test_drift_in_report_mode_is_recorded_naming_who_changed_it_and_left_in_place(
    world: World,
) -> None:
    sha = world.git.commit({"apps/settings.yaml": config_map("settings", {"color": "blue"})})
    reconciler = world.reconciler(world.source(drift="report"))
    reconciler.reconcile(SOURCE)
    _edit_color(world, "red")

    result = reconciler.reconcile(SOURCE)

    assert (result.outcome, result.drifted) == ("unchanged", 1)
    assert _data(world, "settings") == {"color": "red"}
    (detected,) = world.store.of(events.DRIFT_DETECTED)
    assert (detected.subject, detected.commit) == (f"ConfigMap/{NAMESPACE}/settings", sha)
    assert detected.actor == "kubectl-edit"
    assert detected.payload["mode"] == "report"
    assert detected.payload["diff"] == [{"path": "data.color", "desired": "blue", "live": "red"}]
    assert world.store.of(events.DRIFT_CORRECTED) == []


def test_drift_in_correct_mode_is_applied_again_and_recorded_as_corrected(world: World) -> None:
    world.git.commit({"apps/settings.yaml": config_map("settings", {"color": "blue"})})
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    _edit_color(world, "red")

    result = reconciler.reconcile(SOURCE)

    assert (result.outcome, result.drifted) == ("unchanged", 1)
    assert _data(world, "settings") == {"color": "blue"}
    assert world.store.kinds()[-2:] == [events.DRIFT_DETECTED, events.DRIFT_CORRECTED]
    (detected,) = world.store.of(events.DRIFT_DETECTED)
    (corrected,) = world.store.of(events.DRIFT_CORRECTED)
    assert corrected.payload == {
        "object": f"ConfigMap/{NAMESPACE}/settings",
        "missing": False,
        "fields": 1,
        "detected_seq": detected.seq,
        "changes": [{"path": "data.color", "desired": "blue", "live": "red"}],
        "mode": "correct",
    }


def test_a_break_glass_change_its_drift_and_the_correction_are_linked_by_sequence_number(
    world: World,
) -> None:
    world.git.commit({"apps/settings.yaml": config_map("settings", {"color": "blue"})})
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    _edit_color(world, "red")
    (breakglass,) = world.store.append_many(
        [
            NewEvent(
                kind=events.BREAKGLASS,
                actor="carol",
                subject=f"ConfigMap/{NAMESPACE}/settings",
                source=SOURCE,
                payload={
                    "operation": "UPDATE",
                    "user": "carol",
                    "groups": ["gatekeeper:break-glass"],
                    "break_glass_reason": "INC-7",
                },
            )
        ]
    )

    reconciler.reconcile(SOURCE)

    (detected,) = world.store.of(events.DRIFT_DETECTED)
    (corrected,) = world.store.of(events.DRIFT_CORRECTED)
    assert (detected.actor, detected.payload["break_glass_seq"]) == ("carol", breakglass.seq)
    assert corrected.payload["detected_seq"] == detected.seq
    assert breakglass.seq < detected.seq < corrected.seq


def test_a_deleted_managed_object_is_drift_and_is_created_again(world: World) -> None:
    world.git.commit({"apps/settings.yaml": config_map("settings", {"color": "blue"})})
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    del world.cluster.objects[next(iter(world.cluster.objects))]

    reconciler.reconcile(SOURCE)

    assert _data(world, "settings") == {"color": "blue"}
    (detected,) = world.store.of(events.DRIFT_DETECTED)
    assert detected.payload["missing"] is True
    assert detected.actor == "unknown"


@pytest.mark.parametrize(("signer", "reason"), [(None, "unsigned"), ("mallory", "unknown_key")])
def test_an_untrusted_commit_is_rejected_applies_nothing_and_records_sync_rejected(
    world: World, signer: str | None, reason: str
) -> None:
    good = world.git.commit({"apps/settings.yaml": config_map("settings", {"color": "blue"})})
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    applies = len(world.cluster.applied)

    bad = world.git.commit(
        {
            "apps/settings.yaml": config_map("settings", {"color": "red"}),
            "apps/extra.yaml": config_map("extra", {}),
        },
        signer=signer,
    )
    result = reconciler.reconcile(SOURCE)

    assert (result.outcome, result.commit, result.ok) == ("rejected", bad, False)
    assert len(world.cluster.applied) == applies
    assert managed(world.cluster) == ["settings"]
    assert _commit_of(world, "ConfigMap", "settings") == good
    assert bad not in world.git.exported  # an untrusted commit is never even rendered
    (rejected,) = world.store.of(events.SYNC_REJECTED)
    assert (rejected.commit, rejected.payload["since"], rejected.payload["kept"]) == (
        bad,
        good,
        good,
    )
    (found,) = rejected.payload["reasons"]
    assert (found["kind"], found["commit"], found["reason"]) == ("untrusted", bad, reason)
    assert world.ledger.verified_commit(SOURCE, bad) is None


def test_an_untrusted_first_commit_leaves_the_source_unsynced(world: World) -> None:
    world.git.commit({"apps/a.yaml": config_map("a", {})}, signer=None)

    result = world.reconciler().reconcile(SOURCE)

    assert result.outcome == "rejected"
    assert "is not trusted" in result.message
    assert world.cluster.objects == {}
    assert world.store.kinds() == [events.SYNC_REJECTED]


def test_a_rejected_commit_is_recorded_once_however_many_passes_see_it(world: World) -> None:
    world.git.commit({"apps/a.yaml": config_map("a", {"k": "v"})})
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    world.git.commit({"apps/a.yaml": config_map("a", {"k": "w"})}, signer=None)

    outcomes = [reconciler.reconcile(SOURCE).outcome for _ in range(3)]

    assert outcomes == ["rejected"] * 3
    assert len(world.store.of(events.SYNC_REJECTED)) == 1


def test_a_commit_a_policy_denies_is_rejected_whole_with_one_policy_denied_per_object(
    world: World,
) -> None:
    world.git.commit({"apps/a.yaml": config_map("a", {"k": "v"})})
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)

    bad = world.git.commit(
        {
            "apps/a.yaml": config_map("a", {"k": "changed"}),
            "apps/b.yaml": config_map("b", {}, forbidden="true"),
            "apps/c.yaml": config_map("c", {}, forbidden="true"),
        }
    )
    result = reconciler.reconcile(SOURCE)

    assert result.outcome == "rejected"
    assert _data(world, "a") == {"k": "v"}
    assert managed(world.cluster) == ["a"]
    (rejected,) = world.store.of(events.SYNC_REJECTED)
    assert [(r["kind"], r["policy"]) for r in rejected.payload["reasons"]] == [
        ("policy", "tests.no_forbidden"),
        ("policy", "tests.no_forbidden"),
    ]
    denied = world.store.of(events.POLICY_DENIED)
    assert [(r.subject, r.commit) for r in denied] == [
        (f"ConfigMap/{NAMESPACE}/b", bad),
        (f"ConfigMap/{NAMESPACE}/c", bad),
    ]
    assert world.ledger.verified_commit(SOURCE, bad) is None


def test_a_commit_policies_refused_is_tried_again_once_the_policy_set_changes(
    world: World,
) -> None:
    world.git.commit({"apps/a.yaml": config_map("a", {"k": "v"})})
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    world.git.commit({"apps/b.yaml": config_map("b", {}, forbidden="true")})
    reconciler.reconcile(SOURCE)
    reconciler.reconcile(SOURCE)

    world.policies.stricter()
    reconciler.reconcile(SOURCE)

    assert len(world.store.of(events.SYNC_REJECTED)) == 2


def test_a_policy_warning_does_not_block_and_is_recorded_with_the_sync(world: World) -> None:
    world.git.commit({"apps/a.yaml": config_map("a", {}, shaky="true")})

    result = world.reconciler().reconcile(SOURCE)

    assert result.outcome == "applied"
    (applied,) = world.store.of(events.SYNC_APPLIED)
    warning = {
        "object": f"ConfigMap/{NAMESPACE}/a",
        "policy": "tests.shaky",
        "message": "looks shaky",
    }
    assert applied.payload["warnings"] == [warning]
    assert applied.payload["policy_set_version"] == policy_set_version(world.policies.policy_set)
    assert applied.payload["policy_results"] == {
        "denials": 0,
        "warnings": 1,
        "dryrun": 0,
        "messages": [{**warning, "action": "warn"}],
    }


def test_a_range_signed_by_two_people_is_recorded_commit_by_commit_with_the_rule_it_met(
    world: World,
) -> None:
    world.git.rules = (
        MatchedRule(index=0, paths=("apps/payments/**",), signers=("alice", "bob"), min_signers=2),
        MatchedRule(index=1, paths=("**",), signers=None, min_signers=1),
    )
    first = world.git.commit({"apps/payments/a.yaml": config_map("a", {"v": "1"})})
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    shas = [
        world.git.commit({"apps/payments/a.yaml": config_map("a", {"v": "2"})}, signer="alice"),
        world.git.commit({"apps/payments/b.yaml": config_map("b", {})}, signer="bob"),
        world.git.commit({"apps/c.yaml": config_map("c", {})}, signer="alice"),
    ]

    reconciler.reconcile(SOURCE)

    applied = world.store.of(events.SYNC_APPLIED)[-1]
    assert (applied.payload["since"], applied.payload["verification"]) == (first, "strict")
    commits = applied.payload["commits"]
    assert [(c["sha"], c["signer"], c["key"], c["path_list"]) for c in commits] == [
        (shas[0], "alice", "SHA256:alice", ["apps/payments/a.yaml"]),
        (shas[1], "bob", "SHA256:bob", ["apps/payments/b.yaml"]),
        (shas[2], "alice", "SHA256:alice", ["apps/c.yaml"]),
    ]
    assert [c["rules"] for c in commits] == [
        [{"rule": 0, "paths": ["apps/payments/**"]}],
        [{"rule": 0, "paths": ["apps/payments/**"]}],
        [{"rule": 1, "paths": ["**"]}],
    ]
    assert all(c["author"] and c["time"] and c["format"] == "ssh" for c in commits)
    payments, anything = applied.payload["rules"]
    assert (payments["min_signers"], payments["signers_met"]) == (2, ["alice", "bob"])
    assert (anything["min_signers"], anything["signers_met"]) == (1, ["alice"])
    # a changed, b and c are new; the record names only those, with their digests.
    assert [c["object"] for c in applied.payload["changed"]] == [
        f"ConfigMap/{NAMESPACE}/{name}" for name in ("a", "b", "c")
    ]
    assert applied.payload["unchanged"] == 0


def test_a_commit_that_changes_one_of_three_objects_records_only_that_one_as_changed(
    world: World,
) -> None:
    world.git.commit(
        {f"apps/{name}.yaml": config_map(name, {"k": "v"}) for name in ("a", "b", "c")}
    )
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    before = world.store.of(events.SYNC_APPLIED)[0].payload["objects"][0]["digest"]

    world.git.commit({"apps/a.yaml": config_map("a", {"k": "changed"})}, signer="bob")
    reconciler.reconcile(SOURCE)

    applied = world.store.of(events.SYNC_APPLIED)[-1].payload
    assert len(applied["applied"]) == 3  # every object moves on to the new commit
    (changed,) = applied["changed"]
    assert changed["object"] == f"ConfigMap/{NAMESPACE}/a"
    assert changed["digest_before"] == before
    assert changed["digest_after"] == applied["objects"][0]["digest"] != before
    assert applied["unchanged"] == 2


def test_an_api_failure_mid_apply_records_exactly_what_was_and_was_not_applied(
    world: World,
) -> None:
    sha = world.git.commit(
        {"apps/a.yaml": config_map("a", {}), "apps/web.yaml": deployment("web", "nginx:1")}
    )
    web = ObjectKey("apps", "Deployment", NAMESPACE, "web")
    world.cluster.refuse[web] = "spec.selector: Required value"

    result = world.reconciler().reconcile(SOURCE)

    assert result.outcome == "failed"
    assert world.store.kinds() == [events.SYNC_FAILED]
    (failed,) = world.store.of(events.SYNC_FAILED)
    assert failed.commit == sha
    assert failed.payload["stage"] == "apply"
    assert failed.payload["applied"] == [f"ConfigMap/{NAMESPACE}/a"]
    assert failed.payload["not_applied"] == [f"apps/Deployment/{NAMESPACE}/web"]


def test_a_rollback_returns_to_a_verified_commit_records_who_asked_and_holds_there(
    world: World,
) -> None:
    first = world.git.commit({"apps/a.yaml": config_map("a", {"v": "1"})})
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    second = world.git.commit(
        {"apps/a.yaml": config_map("a", {"v": "2"}), "apps/b.yaml": config_map("b", {})}
    )
    reconciler.reconcile(SOURCE)

    result = reconciler.rollback(
        SOURCE, to=first[:12], reason="v2 breaks checkout", requested_by="alice"
    )

    assert (result.outcome, result.commit, result.pruned) == ("rolled_back", first, 1)
    assert _data(world, "a") == {"v": "1"}
    assert managed(world.cluster) == ["a"]
    assert world.store.kinds()[-3:] == [events.SYNC_APPLIED, events.PRUNED, events.ROLLBACK]
    (rollback,) = world.store.of(events.ROLLBACK)
    assert (rollback.actor, rollback.commit) == ("alice", first)
    assert rollback.payload == {
        "from": second,
        "to": first,
        "head": second,
        "reason": "v2 breaks checkout",
        "requested_by": "alice",
        "automatic": False,
    }
    applied = world.store.of(events.SYNC_APPLIED)[-1]
    assert (applied.actor, applied.payload["rollback"]) == ("alice", True)
    assert applied.payload["rollback_of"] == rollback.payload
    assert applied.seq < rollback.seq
    (ledger,) = applied.payload["commits"]
    assert (ledger["sha"], ledger["signer"], ledger["key"]) == (first, "alice", "SHA256:alice")
    verified = world.ledger.verified_commit(SOURCE, first)
    assert verified is not None
    assert ledger["verified_at"] == chain.format_time(verified.verified_at)
    held = reconciler.reconcile(SOURCE)
    assert (held.outcome, held.commit) == ("unchanged", first)


def test_a_rollback_records_that_it_skipped_the_provenance_gate_and_why(world: World) -> None:
    first = world.git.commit({"apps/a.yaml": config_map("a", {"v": "1"})})
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    world.git.commit({"apps/a.yaml": config_map("a", {"v": "2"})})
    reconciler.reconcile(SOURCE)
    verifications = len(world.git.exported)

    reconciler.rollback(SOURCE, to=first, reason="go back", requested_by="alice")

    applied = world.store.of(events.SYNC_APPLIED)[-1]
    (skip,) = applied.payload["skipped_gates"]
    assert skip["gate"] == "provenance"
    assert f"rollback to commit {first[:12]}, verified for source {SOURCE} at" in skip["reason"]
    assert applied.payload["signer"] == "alice"  # as the ledger recorded it
    assert len(world.git.exported) == verifications + 1  # rendered again, policies checked
    assert world.policies.evaluated[-1] == "a"


def test_a_rollback_without_a_target_goes_back_in_history_never_forward(world: World) -> None:
    reconciler = world.reconciler()
    first = world.git.commit({"apps/a.yaml": config_map("a", {"v": "1"})})
    reconciler.reconcile(SOURCE)
    second = world.git.commit({"apps/a.yaml": config_map("a", {"v": "2"})})
    reconciler.reconcile(SOURCE)
    world.git.commit({"apps/a.yaml": config_map("a", {"v": "3"})})
    reconciler.reconcile(SOURCE)
    reconciler.rollback(SOURCE, to=second, reason="v3 is slow", requested_by="alice")

    back = reconciler.rollback(SOURCE, to=None, reason="v2 too", requested_by="alice")

    assert (back.outcome, back.commit) == ("rolled_back", first)
    assert _data(world, "a") == {"v": "1"}
    with pytest.raises(RollbackRefused, match=f"no healthy commit before {first[:12]}"):
        reconciler.rollback(SOURCE, to=None, reason="further", requested_by="alice")


def test_a_rollback_to_a_commit_never_verified_for_the_source_is_refused(world: World) -> None:
    world.git.commit({"apps/a.yaml": config_map("a", {"v": "1"})})
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    unsigned = world.git.commit({"apps/a.yaml": config_map("a", {"v": "evil"})}, signer=None)
    reconciler.reconcile(SOURCE)

    with pytest.raises(RollbackRefused, match="never verified"):
        reconciler.rollback(SOURCE, to=unsigned, reason="try it", requested_by="mallory")

    assert _data(world, "a") == {"v": "1"}
    assert world.store.of(events.ROLLBACK) == []


def test_a_rollback_the_current_policies_refuse_applies_nothing(world: World) -> None:
    old = world.git.commit({"apps/a.yaml": config_map("a", {"v": "1"}, legacy="yes")})
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    world.git.commit({"apps/a.yaml": config_map("a", {"v": "2"})})
    reconciler.reconcile(SOURCE)
    world.policies.stricter()

    with pytest.raises(RollbackRefused, match="no longer allowed"):
        reconciler.rollback(SOURCE, to=old, reason="go back", requested_by="bob")

    assert _data(world, "a") == {"v": "2"}


def test_a_restarted_reconciler_records_the_gates_it_skips_when_it_corrects_drift(
    world: World,
) -> None:
    sha = world.git.commit({"apps/settings.yaml": config_map("settings", {"color": "blue"})})
    world.reconciler().reconcile(SOURCE)
    _edit_color(world, "red")
    evaluated = len(world.policies.evaluated)

    world.reconciler().reconcile(SOURCE)

    assert _data(world, "settings") == {"color": "blue"}
    assert len(world.policies.evaluated) == evaluated  # the synced commit is not evaluated again
    (corrected,) = world.store.of(events.DRIFT_CORRECTED)
    skipped = {skip["gate"]: skip["reason"] for skip in corrected.payload["skipped_gates"]}
    assert set(skipped) == {"provenance", "policies"}
    assert all(f"commit {sha[:12]} is the one synced (record 1)" in r for r in skipped.values())


def _ready(world: World, name: str) -> None:
    found = world.cluster.get("Deployment", name, group="apps")
    assert found is not None
    found["status"] = {
        "observedGeneration": found["metadata"]["generation"],
        "replicas": 1,
        "updatedReplicas": 1,
        "readyReplicas": 1,
        "availableReplicas": 1,
    }


def test_a_workload_is_judged_healthy_only_once_its_status_says_so(world: World) -> None:
    good = world.git.commit({"apps/web.yaml": deployment("web", "nginx:1.25")})
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    assert world.store.of(SYNC_HEALTHY) == []

    _ready(world, "web")
    reconciler.reconcile(SOURCE)

    (healthy,) = world.store.of(SYNC_HEALTHY)
    assert healthy.commit == good


def test_a_sync_still_unhealthy_after_its_timeout_rolls_back_to_the_last_healthy_commit(
    world: World,
) -> None:
    good = world.git.commit({"apps/web.yaml": deployment("web", "nginx:1.25")})
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    _ready(world, "web")
    reconciler.reconcile(SOURCE)
    bad = world.git.commit({"apps/web.yaml": deployment("web", "nginx:1.26-broken")})
    reconciler.reconcile(SOURCE)
    assert reconciler.reconcile(SOURCE).outcome == "unchanged"  # within the timeout

    world.clock.advance(61)
    result = reconciler.reconcile(SOURCE)

    assert (result.outcome, result.commit) == ("rolled_back", good)
    assert _commit_of(world, "Deployment", "web", group="apps") == good
    (rollback,) = world.store.of(events.ROLLBACK)
    assert (rollback.payload["from"], rollback.payload["automatic"]) == (bad, True)
    assert "web: generation 2 not yet observed (observed 1)" in rollback.payload["reason"]


def test_without_auto_rollback_an_unhealthy_sync_is_recorded_once(world: World) -> None:
    world.git.commit({"apps/web.yaml": deployment("web", "nginx:1.25")})
    reconciler = world.reconciler(world.source(autoRollback=False))
    reconciler.reconcile(SOURCE)
    world.clock.advance(61)

    result = reconciler.reconcile(SOURCE)

    assert result.outcome == "failed"
    (unhealthy,) = world.store.of(SYNC_UNHEALTHY)
    assert "unhealthy after sync" in unhealthy.payload["reason"]
    assert reconciler.reconcile(SOURCE).outcome == "unchanged"
    assert len(world.store.of(SYNC_UNHEALTHY)) == 1
