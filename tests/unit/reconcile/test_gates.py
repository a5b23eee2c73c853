"""The gates around the checks: what each step asks of Git, the cluster and the policies."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.reconcile.checks import Rejected
from gatekeeper.reconcile.desired import Signature, SkipPolicies, SkipProvenance
from gatekeeper.reconcile.gates import Gates
from tests.unit.reconcile.fakes import (
    MemoryCluster,
    MemoryGit,
    MemoryPolicies,
    config_map,
    source_settings,
)


def _gates(git: MemoryGit, policies: MemoryPolicies, work: Path) -> Gates:
    return Gates(
        source=source_settings(),
        git=git,
        kube=MemoryCluster(),
        engine=policies,
        identity="reconciler",
        work_dir=work,
    )


def test_a_verified_commit_passes_every_gate_and_names_no_skip(tmp_path: Path) -> None:
    git, policies = MemoryGit(), MemoryPolicies()
    namespace = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {tier: gold}}\n"
    sha = git.commit({"apps/a.yaml": config_map("a", {"k": "v"}), "apps/ns.yaml": namespace})

    desired = _gates(git, policies, tmp_path).prepare(
        sha, provenance=git.verify(since=None, target=sha)
    )

    assert [str(item.key) for item in desired.objects] == ["ConfigMap/shop/a", "Namespace/shop"]
    assert desired.signature.signer == "alice"
    assert desired.skipped == ()
    assert policies.evaluated == ["a", "shop"]
    # the policies see the namespaces as the commit will leave them
    assert [ns["metadata"]["labels"] for ns in policies.inventory] == [{"tier": "gold"}]


def test_an_untrusted_commit_is_rejected_before_anything_of_it_is_rendered(
    tmp_path: Path,
) -> None:
    git, policies = MemoryGit(), MemoryPolicies()
    sha = git.commit({"apps/a.yaml": config_map("a", {})}, signer="mallory")

    with pytest.raises(Rejected, match="is not trusted"):
        _gates(git, policies, tmp_path).prepare(sha, provenance=git.verify(since=None, target=sha))

    assert git.exported == []
    assert policies.evaluated == []


def test_each_skipped_gate_is_named_with_its_reason_and_not_run(tmp_path: Path) -> None:
    git, policies = MemoryGit(), MemoryPolicies()
    sha = git.commit({"apps/a.yaml": config_map("a", {}, forbidden="true")})
    skips = (
        SkipProvenance(reason="synced before", signature=Signature(signer="bob")),
        SkipPolicies(reason="passed then"),
    )

    desired = _gates(git, policies, tmp_path).prepare(
        sha, provenance=skips[0], skip_policies=skips[1]
    )

    assert desired.skipped == skips
    assert desired.signature.signer == "bob"
    assert policies.evaluated == []  # the forbidden label would have been denied


def test_skipping_provenance_alone_still_runs_the_policies(tmp_path: Path) -> None:
    git, policies = MemoryGit(), MemoryPolicies()
    sha = git.commit({"apps/a.yaml": config_map("a", {}, forbidden="true")})

    with pytest.raises(Rejected, match="a is forbidden"):
        _gates(git, policies, tmp_path).prepare(sha, provenance=SkipProvenance(reason="verified"))


def test_a_commit_that_does_not_render_is_rejected_as_such(tmp_path: Path) -> None:
    git, policies = MemoryGit(), MemoryPolicies()
    sha = git.commit({"apps/broken.yaml": "kind: ConfigMap\nmetadata: [unclosed\n"})

    with pytest.raises(Rejected) as rejected:
        _gates(git, policies, tmp_path).prepare(sha, provenance=git.verify(since=None, target=sha))

    assert [reason["kind"] for reason in rejected.value.reasons] == ["render"]
