"""End to end: Git history only moves forward; moving a branch back needs `gatekeeper rollback`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from gatekeeper.audit import events
from gatekeeper.cli import main
from tests.fixtures.cluster import Cluster
from tests.integration.reconcile.conftest import FORBIDDEN_POLICY, Harness, config_map

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

MANY = 20  # objects the commit in the middle brings: what a wrongful prune would delete


@pytest.fixture
def config_file(harness: Harness, cluster: Cluster, tmp_path: Path) -> Path:
    policies = tmp_path / "cli-policies"
    policies.mkdir()
    (policies / "forbidden.rego").write_text(FORBIDDEN_POLICY)
    document = harness.config_document(cluster.kubeconfigs["reconciler"], policies)
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _cli(config: Path, harness: Harness, *args: str) -> int:
    """The `gatekeeper` command, as a freshly started process would run it."""
    extra = ["--cache-dir", str(harness.work / "cli-mirrors")]
    extra += ["--lease-namespace", harness.namespace]
    return main(["--config", str(config), *args, *extra])


def _managed(harness: Harness) -> list[str]:
    found = harness.core().list_namespaced_config_map(
        harness.namespace, label_selector="gatekeeper.dev/managed=true"
    )
    return sorted(item.metadata.name for item in found.items)


def _sync_three(harness: Harness) -> tuple[str, str, str]:
    """A, B (which brings MANY objects), C: each signed and synced in turn."""
    reconciler = harness.reconciler()
    first = harness.commit({"apps/a.yaml": config_map("a", {"v": "1"})})
    assert reconciler.reconcile(harness.name).outcome == "applied"
    many = {f"apps/b-{i:02}.yaml": config_map(f"b-{i:02}", {"v": "1"}) for i in range(MANY)}
    second = harness.commit(many)
    assert reconciler.reconcile(harness.name).outcome == "applied"
    third = harness.commit({"apps/c.yaml": config_map("c", {"v": "1"})})
    assert reconciler.reconcile(harness.name).outcome == "applied"
    assert len(_managed(harness)) == MANY + 2
    return first, second, third


def _force_move(harness: Harness, sha: str) -> None:
    """`git push --force` of an older commit: the branch moves back, no key needed."""
    harness.repo.git("reset", "-q", "--hard", sha)


def test_a_branch_moved_back_is_rejected_once_then_rollback_and_new_commits_work(
    harness: Harness, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first, _, third = _sync_three(harness)
    _force_move(harness, first)

    result = harness.reconciler().reconcile(harness.name)  # a replica started afresh

    assert (result.outcome, result.commit, result.pruned) == ("rejected", first, 0)
    assert len(_managed(harness)) == MANY + 2
    assert harness.records(events.PRUNED) == []
    (rejected,) = harness.records(events.SYNC_REJECTED)
    assert (rejected.commit, rejected.payload["kept"]) == (first, third)
    (reason,) = rejected.payload["reasons"]
    assert (reason["kind"], reason["commit"], reason["synced"], reason["missing"]) == (
        "history_rewritten",
        first,
        third,
        False,
    )
    assert (
        f"{first[:12]} does not descend from the synced commit {third[:12]}" in (reason["message"])
    )

    # Recorded once: later passes, here and in a restarted process, add nothing.
    before = len(harness.store.query(limit=1000).records)
    assert harness.reconcilers[-1].reconcile(harness.name).outcome == "rejected"
    assert _cli(config_file, harness, "reconcile", "--once") == 1
    assert "rejected: history rewritten:" in " ".join(capsys.readouterr().err.split())
    assert len(harness.store.query(limit=1000).records) == before
    assert len(_managed(harness)) == MANY + 2

    assert _cli(config_file, harness, "rollback", harness.name, "--to", first[:12],
                "--reason", "INC-9: back to A", "--requested-by", "carol") == 0  # fmt: skip
    assert _managed(harness) == ["a"]
    (rollback,) = harness.records(events.ROLLBACK)
    assert (rollback.commit, rollback.payload["from"], rollback.payload["head"]) == (
        first,
        third,
        first,
    )
    assert harness.reconciler().reconcile(harness.name).outcome == "unchanged"

    fourth = harness.commit({"apps/d.yaml": config_map("d", {"v": "1"})})
    forward = harness.reconciler().reconcile(harness.name)
    assert (forward.outcome, forward.commit) == ("applied", fourth)
    assert _managed(harness) == ["a", "d"]
    assert harness.records(events.SYNC_APPLIED)[-1].payload["since"] == first


def test_a_branch_rewritten_to_an_unrelated_signed_history_is_rejected(harness: Harness) -> None:
    _, _, third = _sync_three(harness)
    stranger = harness.repo.commit(
        {"apps/z.yaml": config_map("z", {"v": "1"})},
        signer=harness.keys.signer("alice"),
        parents=(),
    )

    result = harness.reconciler().reconcile(harness.name)

    assert (result.outcome, result.commit) == ("rejected", stranger)
    assert len(_managed(harness)) == MANY + 2
    (rejected,) = harness.records(events.SYNC_REJECTED)
    assert rejected.payload["reasons"][0]["synced"] == third
    assert harness.records(events.SYNC_APPLIED)[-1].commit == third


def test_a_synced_commit_collected_after_a_force_push_is_rejected_once_not_failed(
    harness: Harness,
) -> None:
    first, _, third = _sync_three(harness)
    _force_move(harness, first)
    harness.repo.git("update-ref", "-d", "ORIG_HEAD")
    harness.repo.git("reflog", "expire", "--expire=now", "--all")
    harness.repo.git("gc", "-q", "--prune=now")
    # A replica with an empty cache (a new pod): its mirror never saw the synced commit.
    fresh = dataclasses.replace(harness, work=harness.work / "fresh")
    fresh.work.mkdir()
    reconciler = fresh.reconciler()

    results = [reconciler.reconcile(harness.name) for _ in range(3)]

    assert {(r.outcome, r.commit) for r in results} == {("rejected", first)}
    assert "is no longer in the repository" in results[0].message
    (rejected,) = harness.records(events.SYNC_REJECTED)
    (reason,) = rejected.payload["reasons"]
    assert (reason["synced"], reason["missing"]) == (third, True)
    assert harness.records(events.SYNC_FAILED) == []
    assert len(_managed(harness)) == MANY + 2

    back = reconciler.rollback(harness.name, to=first, reason="C is gone", requested_by="carol")

    assert (back.outcome, back.commit) == ("rolled_back", first)
    assert _managed(harness) == ["a"]
    assert reconciler.reconcile(harness.name).outcome == "unchanged"
