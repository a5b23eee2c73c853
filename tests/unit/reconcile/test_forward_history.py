"""History only moves forward: a head that does not descend from the synced commit is refused."""

from __future__ import annotations

from gatekeeper.audit import events
from gatekeeper.reconcile import intent
from tests.unit.reconcile.fakes import SOURCE, World, config_map, managed

OLD, NEW = "a" * 40, "b" * 40


def test_a_rewritten_history_is_a_reason_that_names_both_commits_and_the_way_back() -> None:
    reason = intent.rewritten(synced=NEW, head=OLD, missing=False)

    assert reason["kind"] == intent.HISTORY_REWRITTEN == "history_rewritten"
    assert (reason["commit"], reason["synced"], reason["missing"]) == (OLD, NEW, False)
    assert f"{OLD[:12]} does not descend from the synced commit {NEW[:12]}" in reason["message"]
    assert "gatekeeper rollback" in reason["message"]


def test_a_synced_commit_gone_from_the_repository_is_lost_and_says_so() -> None:
    reason = intent.rewritten(synced=NEW, head=OLD, missing=True)

    assert f"the synced commit {NEW[:12]} is no longer in the repository" in reason["message"]
    assert "its drift cannot be watched" in reason["message"]


def _three_commits(world: World) -> tuple[str, str, str]:
    first = world.git.commit({"apps/a.yaml": config_map("a", {"v": "1"})})
    world.reconciler().reconcile(SOURCE)
    second = world.git.commit({"apps/b.yaml": config_map("b", {"v": "1"})})
    world.reconciler().reconcile(SOURCE)
    third = world.git.commit({"apps/c.yaml": config_map("c", {"v": "1"})})
    assert world.reconciler().reconcile(SOURCE).outcome == "applied"
    return first, second, third


def test_a_branch_moved_back_is_rejected_once_and_nothing_is_pruned(world: World) -> None:
    first, _, third = _three_commits(world)
    world.git.move_head(first)
    reconciler = world.reconciler()

    result = reconciler.reconcile(SOURCE)

    assert (result.outcome, result.commit, result.pruned) == ("rejected", first, 0)
    assert "history rewritten" in result.message
    assert managed(world.cluster) == ["a", "b", "c"]
    (rejected,) = world.store.of(events.SYNC_REJECTED)
    assert (rejected.commit, rejected.payload["since"], rejected.payload["kept"]) == (
        first,
        third,
        third,
    )
    (reason,) = rejected.payload["reasons"]
    assert (reason["kind"], reason["commit"], reason["synced"]) == (
        "history_rewritten",
        first,
        third,
    )
    assert world.store.of(events.PRUNED) == []

    records = len(world.store.records)
    for made in (reconciler, world.reconciler()):  # the same process, and a restarted one
        again = made.reconcile(SOURCE)
        assert (again.outcome, again.commit) == ("rejected", first)
    assert len(world.store.records) == records
    assert managed(world.cluster) == ["a", "b", "c"]
    assert world.store.of(events.SYNC_APPLIED)[-1].commit == third


def test_the_synced_commit_stays_watched_for_drift_while_the_head_is_refused(
    world: World,
) -> None:
    first, _, third = _three_commits(world)
    world.git.move_head(first)
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    world.cluster.edit(
        "ConfigMap",
        "c",
        lambda obj: obj["data"].update(v="edited"),
        manager="kubectl-edit",
        fields={"f:data": {"f:v": {}}},
    )

    result = reconciler.reconcile(SOURCE)

    assert (result.outcome, result.drifted) == ("rejected", 1)
    (corrected,) = world.store.of(events.DRIFT_CORRECTED)
    assert corrected.commit == third
    found = world.cluster.get("ConfigMap", "c")
    assert found is not None and found["data"] == {"v": "1"}


def test_a_rollback_goes_back_and_a_new_commit_on_top_of_it_moves_forward_again(
    world: World,
) -> None:
    first, _, third = _three_commits(world)
    world.git.move_head(first)
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)

    back = reconciler.rollback(SOURCE, to=first, reason="INC-7", requested_by="alice")

    assert (back.outcome, back.commit, back.pruned) == ("rolled_back", first, 2)
    assert managed(world.cluster) == ["a"]
    assert reconciler.reconcile(SOURCE).outcome == "unchanged"
    fourth = world.git.commit({"apps/d.yaml": config_map("d", {"v": "1"})})
    forward = world.reconciler().reconcile(SOURCE)
    assert (forward.outcome, forward.commit) == ("applied", fourth)
    assert managed(world.cluster) == ["a", "d"]
    assert world.store.of(events.SYNC_APPLIED)[-1].payload["since"] == first
    # Moving the branch back to the commit synced before the rollback is refused again.
    world.git.move_head(third)
    assert world.reconciler().reconcile(SOURCE).outcome == "rejected"
    assert len(world.store.of(events.SYNC_REJECTED)) == 2


def test_a_branch_rewritten_to_an_unrelated_signed_history_is_rejected(world: World) -> None:
    _, _, third = _three_commits(world)
    world.git.head = None  # a new root commit: an unrelated history, signed by a trusted key
    stranger = world.git.commit({"apps/z.yaml": config_map("z", {"v": "1"})})

    result = world.reconciler().reconcile(SOURCE)

    assert (result.outcome, result.commit) == ("rejected", stranger)
    assert managed(world.cluster) == ["a", "b", "c"]
    (rejected,) = world.store.of(events.SYNC_REJECTED)
    assert rejected.payload["reasons"][0]["synced"] == third


def test_a_branch_that_moves_forward_after_a_refusal_syncs_the_whole_range(world: World) -> None:
    first, _, third = _three_commits(world)
    world.git.move_head(first)
    world.reconciler().reconcile(SOURCE)
    world.git.move_head(third)
    fourth = world.git.commit({"apps/d.yaml": config_map("d", {"v": "1"})})

    result = world.reconciler().reconcile(SOURCE)

    assert (result.outcome, result.commit) == ("applied", fourth)
    assert managed(world.cluster) == ["a", "b", "c", "d"]
    assert world.store.of(events.SYNC_APPLIED)[-1].payload["since"] == third


def test_moving_the_branch_forward_again_past_a_rollback_verifies_the_commits_after_it(
    world: World,
) -> None:
    first, second, third = _three_commits(world)
    world.git.move_head(first)
    reconciler = world.reconciler()
    reconciler.reconcile(SOURCE)
    reconciler.rollback(SOURCE, to=first, reason="INC-8", requested_by="alice")
    world.git.move_head(third)

    result = world.reconciler().reconcile(SOURCE)

    assert (result.outcome, result.commit) == ("applied", third)
    assert managed(world.cluster) == ["a", "b", "c"]
    applied = world.store.of(events.SYNC_APPLIED)[-1]
    assert applied.payload["since"] == first
    assert [c["sha"] for c in applied.payload["commits"]] == [second, third]
