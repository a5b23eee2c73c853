"""Names are resolved without git's guessing: a pushed ref cannot stand in for the branch a
source follows, nor for the commit a trust policy's `trustFrom` names."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.provenance import GitRepository, RepositoryError, TrustPolicyError, verify_range
from tests.fixtures.gitrepo import Keys, PolicyWriter, SignedRepo

pytestmark = pytest.mark.integration


def test_a_tag_named_like_the_branch_does_not_redirect_the_branch(
    signed_repo: SignedRepo, keys: Keys, tmp_path: Path
) -> None:
    signed = signed_repo.commit({"a.yaml": "a: 1\n"}, signer=keys.signer("alice"))
    unsigned = signed_repo.commit({"a.yaml": "a: 2\n"}, signer=None)
    signed_repo.git("reset", "-q", "--hard", signed)
    signed_repo.git("tag", "main", unsigned)  # git itself would pick refs/tags/main first
    assert signed_repo.git("rev-parse", "main^{commit}") == unsigned
    mirror = GitRepository.clone(str(signed_repo.path), tmp_path / "mirror")
    assert mirror.resolve("main") == signed
    assert mirror.object_name("main") == "refs/heads/main"
    assert mirror.resolve("refs/tags/main") == unsigned


def test_a_plain_name_falls_back_to_a_tag_and_an_unknown_name_is_a_clear_error(
    signed_repo: SignedRepo, keys: Keys
) -> None:
    first = signed_repo.commit({"a.yaml": "a: 1\n"}, signer=keys.signer("alice"))
    signed_repo.tag("v1", signer=keys.signer("alice"))
    signed_repo.commit({"a.yaml": "a: 2\n"}, signer=keys.signer("alice"))
    repo = GitRepository(signed_repo.path)
    assert repo.resolve("v1") == first
    assert repo.annotated_tag("v1") is not None
    assert repo.resolve("main~1") == first
    with pytest.raises(RepositoryError, match="no branch, tag or commit"):
        repo.resolve("release")


def test_an_abbreviated_sha_that_is_also_a_branch_name_is_refused(
    signed_repo: SignedRepo, keys: Keys
) -> None:
    first = signed_repo.commit({"a.yaml": "a: 1\n"}, signer=keys.signer("alice"))
    second = signed_repo.commit({"a.yaml": "a: 2\n"}, signer=keys.signer("alice"))
    repo = GitRepository(signed_repo.path)
    assert repo.resolve(first[:10]) == first
    assert repo.resolve(first.upper()) == first
    signed_repo.git("branch", first[:10], second)
    with pytest.raises(RepositoryError, match="ambiguous"):
        repo.resolve(first[:10])
    assert repo.resolve(first) == first


def test_trust_from_names_a_commit_never_a_ref(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    signed_repo.commit({"old.yaml": "x: 1\n"}, signer=None)
    start = signed_repo.commit({"a.yaml": "a: 1\n"}, signer=keys.signer("alice"))
    head = signed_repo.commit({"a.yaml": "a: 2\n"}, signer=keys.signer("bob"))
    # A branch named like the abbreviation, pointing at the head, would skip `start`'s check.
    signed_repo.git("branch", start[:8], head)
    verdict = verify_range(
        GitRepository(signed_repo.path), write_policy(trust_from=start[:8]), since=None, target=head
    )
    assert [c.sha for c in verdict.commits] == [start, head]
    assert verdict.trusted


def test_trust_from_that_names_no_commit_says_so(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    head = signed_repo.commit({"a.yaml": "a: 1\n"}, signer=keys.signer("alice"))
    signed_repo.git("branch", "abcdef12", head)
    with pytest.raises(TrustPolicyError, match=r"trustFrom: .*'abcdef12': no commit"):
        verify_range(
            GitRepository(signed_repo.path),
            write_policy(trust_from="abcdef12"),
            since=None,
            target=head,
        )
