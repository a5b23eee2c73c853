"""The pure core of range verification: signatures, path rules and minSigners over records."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from gatekeeper.provenance import (
    MatchedRule,
    RangeVerdict,
    Reason,
    TrustPolicy,
    judge_range,
    parse_trust_policy,
)
from tests.fixtures.signing import InProcessPgpKey, InProcessSshKey, make_commit


@pytest.fixture(scope="module")
def cast(ssh_key_factory: Callable[[], InProcessSshKey]) -> dict[str, InProcessSshKey]:
    return {name: ssh_key_factory() for name in ("alice", "bob", "carol", "stranger")}


def policy(
    cast: dict[str, InProcessSshKey], pgp: InProcessPgpKey, rules: list[dict[str, Any]]
) -> TrustPolicy:
    signers: list[dict[str, Any]] = [
        {"name": name, "ssh": [key.public]} for name, key in cast.items() if name != "stranger"
    ]
    signers.append({"name": "pat", "openpgp": pgp.public})
    return parse_trust_policy(
        {
            "apiVersion": "gatekeeper.dev/v1alpha1",
            "kind": "TrustPolicy",
            "signers": signers,
            "rules": rules,
        }
    )


RULES: list[dict[str, Any]] = [
    {"paths": ["prod/**"], "signers": ["alice", "bob", "carol"], "minSigners": 2},
    {"paths": ["prod/audit/**"], "signers": ["carol"]},
    {"paths": ["**"], "signers": ["*"]},
]


def test_every_commit_is_judged_and_the_first_failing_check_gives_the_reason(
    cast: dict[str, InProcessSshKey], pgp_key: InProcessPgpKey
) -> None:
    records = [
        make_commit(("docs/a.md",), sign=cast["alice"].sign),
        make_commit(("docs/b.md",), sign=None),
        make_commit(("docs/c.md",), sign=cast["stranger"].sign),
        make_commit(("prod/audit/x.yaml",), sign=cast["bob"].sign),
        make_commit(("docs/d.md",), sign=pgp_key.sign),
    ]
    verdicts = judge_range(records, policy(cast, pgp_key, RULES))
    assert [v.reason for v in verdicts] == [
        Reason.TRUSTED,
        Reason.UNSIGNED,
        Reason.UNKNOWN_KEY,
        Reason.SIGNER_NOT_ALLOWED,
        Reason.TRUSTED,
    ]
    assert verdicts[3].rule == "rules[1] (prod/audit/**)"
    assert verdicts[4].signer == "pat"
    assert verdicts[4].key_id in pgp_key.key_fingerprints


def test_min_signers_counts_distinct_trusted_signers_of_the_commits_a_rule_governs(
    cast: dict[str, InProcessSshKey], pgp_key: InProcessPgpKey
) -> None:
    trust = policy(cast, pgp_key, RULES)
    alone = [
        make_commit(("prod/app.yaml",), sign=cast["alice"].sign),
        make_commit(("prod/db.yaml",), sign=cast["alice"].sign),
        make_commit(("docs/x.md",), sign=cast["bob"].sign),
    ]
    verdicts = judge_range(alone, trust)
    assert [v.reason for v in verdicts] == [
        Reason.INSUFFICIENT_SIGNERS,
        Reason.INSUFFICIENT_SIGNERS,
        Reason.TRUSTED,
    ]
    assert "needs 2 distinct trusted signers" in verdicts[0].detail
    assert "has 1 (alice)" in verdicts[0].detail
    paired = [*alone, make_commit(("prod/app.yaml",), sign=cast["bob"].sign)]
    assert all(v.trusted for v in judge_range(paired, trust))


def test_an_untrusted_commit_does_not_count_toward_min_signers(
    cast: dict[str, InProcessSshKey], pgp_key: InProcessPgpKey
) -> None:
    records = [
        make_commit(("prod/app.yaml",), sign=cast["alice"].sign),
        make_commit(("prod/app.yaml",), sign=cast["stranger"].sign),
    ]
    verdicts = judge_range(records, policy(cast, pgp_key, RULES))
    assert [v.reason for v in verdicts] == [Reason.INSUFFICIENT_SIGNERS, Reason.UNKNOWN_KEY]


def test_a_commit_outside_a_min_signers_rule_is_not_held_to_it(
    cast: dict[str, InProcessSshKey], pgp_key: InProcessPgpKey
) -> None:
    # prod/audit/** is more specific than prod/**, so carol alone may change it.
    records = [make_commit(("prod/audit/log.yaml",), sign=cast["carol"].sign)]
    assert judge_range(records, policy(cast, pgp_key, RULES))[0].trusted


def test_a_commit_that_changes_no_path_needs_only_a_good_signature(
    cast: dict[str, InProcessSshKey], pgp_key: InProcessPgpKey
) -> None:
    trust = policy(cast, pgp_key, [{"paths": ["apps/**"], "signers": ["alice"]}])
    (verdict,) = judge_range([make_commit((), sign=cast["bob"].sign)], trust)
    assert verdict.trusted


def test_each_commit_names_the_rules_that_decided_its_paths_and_who_wrote_it(
    cast: dict[str, InProcessSshKey], pgp_key: InProcessPgpKey
) -> None:
    paths = ("prod/app.yaml", "prod/audit/x.yaml", "docs/a.md")
    (verdict,) = judge_range(
        [make_commit(paths, sign=cast["carol"].sign, time=1_800_000_123)],
        policy(cast, pgp_key, [*RULES[:2], {"paths": ["**"], "signers": ["*"]}]),
    )
    assert verdict.author == "A <a@example.com>"
    assert verdict.time == datetime.fromtimestamp(1_800_000_123, UTC)
    assert verdict.rules == (
        MatchedRule(0, ("prod/**",), ("alice", "bob", "carol"), 2),
        MatchedRule(1, ("prod/audit/**",), ("carol",), 1),
        MatchedRule(2, ("**",), None, 1),
    )


def test_a_range_says_which_signers_each_rule_counted_toward_its_min_signers(
    cast: dict[str, InProcessSshKey], pgp_key: InProcessPgpKey
) -> None:
    records = [
        make_commit(("prod/app.yaml",), sign=cast["alice"].sign),
        make_commit(("prod/db.yaml",), sign=cast["bob"].sign),
        make_commit(("prod/app.yaml", "docs/x.md"), sign=cast["alice"].sign),
    ]
    verdicts = judge_range(records, policy(cast, pgp_key, RULES))
    found = RangeVerdict(target=records[-1].sha, since=None, mode="strict", commits=verdicts)

    prod, anything = found.rules
    assert (prod.rule.paths, prod.rule.min_signers, prod.signers, prod.met) == (
        ("prod/**",),
        2,
        ("alice", "bob"),
        True,
    )
    assert prod.commits == tuple(r.sha for r in records)
    assert (anything.rule.index, anything.commits, anything.signers) == (
        2,
        (records[2].sha,),
        ("alice",),
    )
