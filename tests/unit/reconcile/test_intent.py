"""Which commit a pass brings, and whether its gates run again."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from gatekeeper.audit import events
from gatekeeper.audit.events import Record
from gatekeeper.kube.contract import VerifiedCommit
from gatekeeper.reconcile import intent
from gatekeeper.reconcile.desired import Signature
from gatekeeper.reconcile.history import Hold, SourceState

SYNCED, HEAD, OLDER = "a" * 40, "b" * 40, "c" * 40


def _record(seq: int, kind: str, commit: str, **payload: Any) -> Record:
    return Record(
        seq=seq,
        time=datetime(2027, 1, 15, tzinfo=UTC),
        kind=kind,
        actor="gatekeeper-reconciler",
        subject="source/apps",
        source="apps",
        commit=commit,
        payload=payload,
        prev_hash="",
        hash="",
    )


def _state(
    *, rejected: Record | None = None, hold: Hold | None = None, synced: str | None = SYNCED
) -> SourceState:
    applied = _record(5, events.SYNC_APPLIED, synced) if synced else None
    return SourceState(last_applied=applied, last_rejected=rejected, health_settled=True, hold=hold)


def _policy_rejection(seq: int, commit: str, version: str) -> Record:
    reasons = [{"kind": "policy", "message": "denied"}]
    return _record(seq, events.SYNC_REJECTED, commit, reasons=reasons, policy_set_version=version)


def test_the_synced_commit_is_kept_without_running_any_gate() -> None:
    assert intent.choose(_state(), head=SYNCED, policy_set_version="v1") == intent.Keep(SYNCED)


def test_a_new_head_is_checked_for_what_it_brings_since_the_synced_commit() -> None:
    target = intent.choose(_state(), head=HEAD, policy_set_version="v1")

    assert target == intent.Check(HEAD, since=SYNCED)


def test_on_a_first_sync_the_head_is_checked_from_the_beginning() -> None:
    target = intent.choose(_state(synced=None), head=HEAD, policy_set_version="v1")

    assert target == intent.Check(HEAD, since=None)


def test_a_hold_keeps_the_source_at_the_commit_rolled_back_to_while_git_stays_put() -> None:
    state = _state(synced=OLDER, hold=Hold(commit=OLDER, head=HEAD))

    assert intent.choose(state, head=HEAD, policy_set_version="v1") == intent.Keep(OLDER)


def test_a_newer_head_releases_the_hold() -> None:
    state = _state(synced=OLDER, hold=Hold(commit=OLDER, head=SYNCED))

    assert intent.choose(state, head=HEAD, policy_set_version="v1") == intent.Check(
        HEAD, since=OLDER
    )


def test_a_commit_rejected_since_the_last_sync_is_recalled_without_checking_it_again() -> None:
    untrusted = [{"kind": "untrusted", "message": "unsigned"}]
    state = _state(rejected=_record(6, events.SYNC_REJECTED, HEAD, reasons=untrusted))

    target = intent.choose(state, head=HEAD, policy_set_version="v2")

    assert target == intent.Recall(HEAD, tuple(untrusted))


def test_a_commit_rejected_before_the_last_sync_is_checked_again() -> None:
    state = _state(rejected=_record(4, events.SYNC_REJECTED, HEAD, reasons=[]))

    assert isinstance(intent.choose(state, head=HEAD, policy_set_version="v1"), intent.Check)


def test_a_commit_policies_refused_stays_refused_while_the_policy_set_is_the_same() -> None:
    state = _state(rejected=_policy_rejection(6, HEAD, "v1"))

    assert isinstance(intent.choose(state, head=HEAD, policy_set_version="v1"), intent.Recall)


def test_a_commit_policies_refused_is_checked_again_once_the_policy_set_changes() -> None:
    state = _state(rejected=_policy_rejection(6, HEAD, "v1"))

    assert intent.choose(state, head=HEAD, policy_set_version="v2") == intent.Check(
        HEAD, since=SYNCED
    )


def test_rendering_the_synced_commit_again_skips_its_gates_naming_the_sync_record() -> None:
    provenance, policies = intent.resync_skips(_state())

    assert (provenance.gate, policies.gate) == ("provenance", "policies")
    assert provenance.reason.startswith(f"commit {SYNCED[:12]} is the one synced (record 5)")
    assert policies.reason.endswith("its objects passed then")


def test_a_source_never_synced_has_no_gate_to_skip() -> None:
    with pytest.raises(ValueError, match="only a synced commit"):
        intent.resync_skips(_state(synced=None))


def test_a_rollback_skips_provenance_saying_when_the_commit_was_verified_and_by_whom() -> None:
    verified = VerifiedCommit(
        source="apps",
        commit=OLDER,
        verified_at=datetime(2027, 1, 15, 8, 0, tzinfo=UTC),
        signer="alice",
        key_id="SHA256:k",
        format="ssh",
    )

    skip = intent.rollback_skip(verified)

    assert skip.reason == (
        f"rollback to commit {OLDER[:12]}, verified for source apps at 2027-01-15T08:00:00+00:00"
    )
    assert skip.signature == Signature(signer="alice", key_id="SHA256:k", format="ssh")
