"""End to end: what `sync.applied` tells an auditor of a change, from real signed commits."""

from __future__ import annotations

import pytest

from gatekeeper.audit import events
from gatekeeper.canonical import manifest_digest
from gatekeeper.policy.policyset import policy_set_version
from gatekeeper.provenance import sshsig
from tests.fixtures.gitrepo import standard_signers, trust_policy_yaml
from tests.integration.reconcile.conftest import Harness, config_map

pytestmark = [pytest.mark.integration, pytest.mark.cluster]

TWO_PERSON = [
    {"paths": ["apps/payments/**"], "signers": ["alice", "bob"], "minSigners": 2},
    {"paths": ["**"], "signers": ["*"]},
]


def _rendered(harness: Harness, name: str, data: dict[str, str]) -> str:
    return manifest_digest(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": name, "namespace": harness.namespace},
            "data": data,
        }
    )


def test_a_range_signed_by_two_people_is_recorded_commit_by_commit_with_the_rule_it_met(
    harness: Harness,
) -> None:
    harness.trust_file.write_text(
        trust_policy_yaml(signers=standard_signers(harness.keys), rules=TWO_PERSON)
    )
    first = harness.commit(
        {
            "apps/settings.yaml": config_map("settings", {"color": "blue"}),
            "apps/other.yaml": config_map("other", {"k": "v"}),
        }
    )
    reconciler = harness.reconciler()
    assert reconciler.reconcile(harness.name).outcome == "applied"
    shas = [
        harness.commit({"apps/payments/fees.yaml": config_map("fees", {"rate": "1"})}, "alice"),
        harness.commit({"apps/payments/fees.yaml": config_map("fees", {"rate": "2"})}, "bob"),
        harness.commit({"apps/settings.yaml": config_map("settings", {"color": "red"})}, "alice"),
    ]

    result = reconciler.reconcile(harness.name)

    assert (result.outcome, result.commit) == ("applied", shas[-1])
    applied = harness.records(events.SYNC_APPLIED)[-1].payload
    assert (applied["since"], applied["verification"]) == (first, "strict")
    bob_key = sshsig.fingerprint(sshsig.public_key_blob(harness.keys.bob.public))
    alice_key = harness.keys.alice.fingerprint
    assert [
        (c["sha"], c["author"], c["signer"], c["key"], c["format"], c["path_list"])
        for c in applied["commits"]
    ] == [
        (
            shas[0],
            "Dev <alice@example.com>",
            "alice",
            alice_key,
            "openpgp",
            ["apps/payments/fees.yaml"],
        ),
        (shas[1], "Dev <bob@example.com>", "bob", bob_key, "ssh", ["apps/payments/fees.yaml"]),
        (shas[2], "Dev <alice@example.com>", "alice", alice_key, "openpgp", ["apps/settings.yaml"]),
    ]
    assert [c["rules"] for c in applied["commits"]] == [
        [{"rule": 0, "paths": ["apps/payments/**"]}],
        [{"rule": 0, "paths": ["apps/payments/**"]}],
        [{"rule": 1, "paths": ["**"]}],
    ]
    assert all(c["time"].endswith("Z") and c["paths"] == 1 for c in applied["commits"])
    assert applied["rules"] == [
        {
            "rule": 0,
            "paths": ["apps/payments/**"],
            "signers": ["alice", "bob"],
            "min_signers": 2,
            "signers_met": ["alice", "bob"],
        },
        {"rule": 1, "paths": ["**"], "signers": ["*"], "min_signers": 1, "signers_met": ["alice"]},
    ]
    assert applied["policy_set_version"] == policy_set_version(harness.engine.policy_set)
    assert applied["policy_results"] == {"denials": 0, "warnings": 0, "dryrun": 0, "messages": []}
    # Every object moves on to the new commit; only two of them really changed.
    assert len(applied["applied"]) == 3
    assert applied["changed"] == [
        {
            "object": f"ConfigMap/{harness.namespace}/fees",
            "path": "apps/payments/fees.yaml",
            "digest_before": None,
            "digest_after": _rendered(harness, "fees", {"rate": "2"}),
        },
        {
            "object": f"ConfigMap/{harness.namespace}/settings",
            "path": "apps/settings.yaml",
            "digest_before": _rendered(harness, "settings", {"color": "blue"}),
            "digest_after": _rendered(harness, "settings", {"color": "red"}),
        },
    ]
    assert applied["unchanged"] == 1
    assert (applied["rollback"], applied["rollback_of"]) == (False, None)
