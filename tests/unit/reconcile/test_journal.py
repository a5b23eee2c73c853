"""The record builders: what `sync.applied` says of the commits, rules and policies behind it."""

from __future__ import annotations

from datetime import UTC, datetime

from gatekeeper.provenance.verdicts import (
    CommitVerdict,
    MatchedRule,
    RangeVerdict,
    Reason,
    SignatureFormat,
)
from gatekeeper.reconcile import journal
from gatekeeper.reconcile.desired import PolicyResults

PAYMENTS = MatchedRule(
    index=0, paths=("apps/payments/**",), signers=("alice", "bob"), min_signers=2
)
ANYTHING = MatchedRule(index=1, paths=("**",), signers=None, min_signers=1)


def _commit(n: int, signer: str, *rules: MatchedRule, paths: int = 1) -> CommitVerdict:
    return CommitVerdict(
        sha=f"{n:040x}",
        reason=Reason.TRUSTED,
        detail="",
        format=SignatureFormat.SSH,
        signer=signer,
        key_id=f"SHA256:{signer}-key",
        paths=tuple(f"apps/payments/f{i}.yaml" for i in range(paths)),
        author=f"Dev <{signer}@example.com>",
        time=datetime(2027, 1, 15, 10, n, 30, 999, tzinfo=UTC),
        rules=rules,
    )


def _range(*commits: CommitVerdict, mode: str = "strict") -> RangeVerdict:
    return RangeVerdict(target=commits[-1].sha, since=None, mode=mode, commits=commits)


def test_a_range_of_three_commits_by_two_signers_shows_a_two_person_rule_met() -> None:
    verdict = _range(
        _commit(1, "alice", PAYMENTS),
        _commit(2, "bob", PAYMENTS, ANYTHING),
        _commit(3, "alice", PAYMENTS),
    )

    commits = journal.commit_entries(verdict, verdict.target)
    rules = journal.rule_entries(verdict)

    assert commits is not None
    assert [(c["sha"][-1], c["signer"]) for c in commits] == [
        ("1", "alice"),
        ("2", "bob"),
        ("3", "alice"),
    ]
    assert commits[1] == {
        "sha": f"{2:040x}",
        "author": "Dev <bob@example.com>",
        "time": "2027-01-15T10:02:30Z",
        "signer": "bob",
        "key": "SHA256:bob-key",
        "format": "ssh",
        "paths": 1,
        "path_list": ["apps/payments/f0.yaml"],
        "rules": [{"rule": 0, "paths": ["apps/payments/**"]}, {"rule": 1, "paths": ["**"]}],
    }
    assert rules == [
        {
            "rule": 0,
            "paths": ["apps/payments/**"],
            "signers": ["alice", "bob"],
            "min_signers": 2,
            "signers_met": ["alice", "bob"],
        },
        {"rule": 1, "paths": ["**"], "signers": ["*"], "min_signers": 1, "signers_met": ["bob"]},
    ]


def test_a_commit_touching_many_paths_is_counted_and_its_paths_are_not_listed() -> None:
    many = journal.PATHS_LISTED + 1
    verdict = _range(_commit(1, "alice", PAYMENTS, paths=many), mode="head")

    (entry,) = journal.commit_entries(verdict, verdict.target) or []

    assert (entry["paths"], entry["path_list"]) == (many, None)


def test_policy_results_count_each_action_and_keep_the_findings_that_let_a_commit_through() -> None:
    found = PolicyResults(
        version="sha256:abc",
        warnings=({"object": "ConfigMap/shop/a", "policy": "p.warn", "message": "careful"},),
        dry_runs=(
            {"object": "ConfigMap/shop/b", "policy": "p.try", "message": "would deny"},
            {"object": "ConfigMap/shop/c", "policy": "p.try", "message": "would deny"},
        ),
    )

    assert journal.policy_results(found) == {
        "denials": 0,
        "warnings": 1,
        "dryrun": 2,
        "messages": [
            {
                "object": "ConfigMap/shop/a",
                "policy": "p.warn",
                "message": "careful",
                "action": "warn",
            },
            {
                "object": "ConfigMap/shop/b",
                "policy": "p.try",
                "message": "would deny",
                "action": "dryrun",
            },
            {
                "object": "ConfigMap/shop/c",
                "policy": "p.try",
                "message": "would deny",
                "action": "dryrun",
            },
        ],
    }
    assert journal.policy_results(None) is None


def test_a_sync_record_keeps_every_field_older_readers_rely_on() -> None:
    verdict = _range(_commit(1, "alice", ANYTHING))
    record = journal.applied(
        source="apps",
        commit=verdict.target,
        actor="gatekeeper",
        objects=(),
        to_apply=(),
        kinds=(),
        since=None,
        signer="alice",
        provenance=verdict,
        policies=PolicyResults(version="sha256:abc"),
    )

    assert {"since", "signer", "rollback", "applied", "objects", "kinds", "warnings"} <= set(
        record.payload
    )
    assert (record.payload["verification"], record.payload["policy_set_version"]) == (
        "strict",
        "sha256:abc",
    )
