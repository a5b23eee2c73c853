"""End to end: a source whose ref names a tag; an annotated tag's own signature must be trusted."""

from __future__ import annotations

import pytest

from gatekeeper.audit import events
from gatekeeper.audit.ledger import Ledger
from gatekeeper.kube import contract
from tests.integration.reconcile.conftest import Harness, config_map

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def _color(harness: Harness) -> str | None:
    names = {
        item.metadata.name: item
        for item in harness.core().list_namespaced_config_map(harness.namespace).items
    }
    live = names.get("settings")
    return None if live is None else str(live.data["color"])


@pytest.mark.parametrize(
    ("tagger", "reason"), [(None, "unsigned"), ("eve", "unknown_key"), ("mallory", "unknown_key")]
)
def test_an_unsigned_or_untrusted_annotated_tag_is_rejected_though_its_commit_is_signed(
    harness: Harness, tagger: str | None, reason: str
) -> None:
    commit = harness.commit({"apps/settings.yaml": config_map("settings", {"color": "blue"})})
    tag = harness.repo.tag("v1.2", signer=harness.keys.signer(tagger) if tagger else None)
    reconciler = harness.reconciler(harness.source(ref="v1.2"))

    result = reconciler.reconcile(harness.name)

    assert result.outcome == "rejected", result.message
    assert _color(harness) is None
    (rejected,) = harness.records(events.SYNC_REJECTED)
    assert rejected.commit == commit
    (found,) = rejected.payload["reasons"]
    assert (found["kind"], found["commit"], found["reason"]) == ("untrusted", tag, reason)
    assert found["message"].startswith(f"tag {tag[:12]} is not trusted")
    assert Ledger(harness.store).verified_commit(harness.name, commit) is None
    assert harness.records(events.SYNC_APPLIED) == []


@pytest.mark.parametrize("tagger", ["alice", "bob"])
def test_a_trusted_signed_tag_syncs_the_commit_it_names(harness: Harness, tagger: str) -> None:
    harness.commit({"apps/settings.yaml": config_map("settings", {"color": "blue"})})
    commit = harness.commit({"apps/settings.yaml": config_map("settings", {"color": "green"})})
    harness.repo.tag("v1.2", signer=harness.keys.signer(tagger))
    harness.commit({"apps/settings.yaml": config_map("settings", {"color": "red"})})
    reconciler = harness.reconciler(harness.source(ref="v1.2"))

    result = reconciler.reconcile(harness.name)

    assert (result.outcome, result.commit) == ("applied", commit), result.message
    assert _color(harness) == "green"
    live = harness.core().read_namespaced_config_map("settings", harness.namespace)
    assert live.metadata.annotations[contract.COMMIT_ANNOTATION] == commit
    verified = Ledger(harness.store).verified_commit(harness.name, commit)
    assert verified is not None and verified.signer == "alice"
    assert harness.records(events.SYNC_REJECTED) == []


def test_moving_a_followed_tag_checks_the_signature_of_the_tag_it_now_is(
    harness: Harness,
) -> None:
    first = harness.commit({"apps/settings.yaml": config_map("settings", {"color": "blue"})})
    harness.repo.tag("release", signer=harness.keys.signer("alice"))
    reconciler = harness.reconciler(harness.source(ref="release"))
    assert reconciler.reconcile(harness.name).outcome == "applied"
    second = harness.commit({"apps/settings.yaml": config_map("settings", {"color": "red"})})
    moved = harness.repo.tag("release", signer=None)

    result = reconciler.reconcile(harness.name)

    assert result.outcome == "rejected", result.message
    assert _color(harness) == "blue"
    (rejected,) = harness.records(events.SYNC_REJECTED)
    assert rejected.commit == second
    (found,) = rejected.payload["reasons"]
    assert (found["commit"], found["reason"]) == (moved, "unsigned")
    live = harness.core().read_namespaced_config_map("settings", harness.namespace)
    assert live.metadata.annotations[contract.COMMIT_ANNOTATION] == first


def test_a_lightweight_tag_is_followed_on_its_commit_signature_alone(harness: Harness) -> None:
    commit = harness.commit({"apps/settings.yaml": config_map("settings", {"color": "blue"})})
    harness.repo.git("tag", "v1.2", commit)
    harness.commit({"apps/settings.yaml": config_map("settings", {"color": "red"})})
    reconciler = harness.reconciler(harness.source(ref="v1.2"))

    result = reconciler.reconcile(harness.name)

    assert (result.outcome, result.commit) == ("applied", commit), result.message
    assert _color(harness) == "blue"


def test_a_ref_naming_both_a_branch_and_an_unsigned_tag_follows_the_branch(
    harness: Harness,
) -> None:
    harness.commit({"apps/settings.yaml": config_map("settings", {"color": "blue"})})
    harness.repo.tag("release", signer=None)
    harness.repo.branch("release")
    commit = harness.commit({"apps/settings.yaml": config_map("settings", {"color": "green"})})
    reconciler = harness.reconciler(harness.source(ref="release"))

    result = reconciler.reconcile(harness.name)

    assert (result.outcome, result.commit) == ("applied", commit), result.message
    assert _color(harness) == "green"


def test_a_rejected_tag_signed_again_on_the_same_commit_is_checked_again(
    harness: Harness,
) -> None:
    commit = harness.commit({"apps/settings.yaml": config_map("settings", {"color": "blue"})})
    unsigned = harness.repo.tag("v1.2", signer=None)
    reconciler = harness.reconciler(harness.source(ref="v1.2"))
    assert reconciler.reconcile(harness.name).outcome == "rejected"
    # Nothing changed: recalled, not checked nor recorded again.
    assert reconciler.reconcile(harness.name).outcome == "rejected"
    (rejected,) = harness.records(events.SYNC_REJECTED)
    assert rejected.payload["tag"] == unsigned

    harness.repo.git("tag", "-d", "v1.2")
    harness.repo.tag("v1.2", signer=harness.keys.signer("alice"))

    result = reconciler.reconcile(harness.name)
    assert (result.outcome, result.commit) == ("applied", commit), result.message
    assert _color(harness) == "blue"
