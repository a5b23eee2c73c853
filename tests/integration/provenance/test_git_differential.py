"""The in-process verifier against `git verify-commit` itself, on every signature fixture."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gatekeeper.provenance import SIGNATURE_REASONS, GitRepository, verify_range, verify_tag
from tests.fixtures.gitrepo import EXPIRED_KEY_CREATED, GitVerifier, Keys, PolicyWriter, SignedRepo

pytestmark = pytest.mark.integration


@pytest.fixture
def git_verifier(tmp_path: Path, keys: Keys) -> Iterator[GitVerifier]:
    """git configured with exactly the standard policy's keys (gpg keyring, allowed signers)."""
    now = datetime.now(UTC)
    window = f'valid-after="{(now - timedelta(days=1)):%Y%m%d%H%M%S}Z"'
    window += f',valid-before="{(now + timedelta(days=1)):%Y%m%d%H%M%S}Z"'
    verifier = GitVerifier.create(
        tmp_path,
        openpgp=[
            keys.alice.public,
            keys.carol.public,
            keys.expired.public,
            keys.revoked_public,
            keys.subkey.public,
        ],
        ssh=[
            ("bob@example.com", "", keys.bob.public),
            ("dave@example.com", window, keys.dave.public),
        ],
    )
    yield verifier
    verifier.close()


def build_fixtures(signed_repo: SignedRepo, keys: Keys) -> dict[str, str]:
    """One commit per case that decides a signature's fate; name -> SHA."""
    now = datetime.now(UTC).replace(microsecond=0)
    made: dict[str, str] = {}
    made["openpgp trusted"] = signed_repo.commit({"a": "1\n"}, signer=keys.signer("alice"))
    made["ssh trusted"] = signed_repo.commit({"a": "2\n"}, signer=keys.signer("bob"))
    made["git commit -S openpgp"] = signed_repo.git_commit({"a": "3\n"}, key=keys.carol)
    made["git commit -S ssh"] = signed_repo.git_commit({"a": "4\n"}, key=keys.bob)
    made["unsigned"] = signed_repo.commit({"a": "5\n"}, signer=None)
    made["unknown openpgp key"] = signed_repo.commit({"a": "6\n"}, signer=keys.signer("eve"))
    made["unknown ssh key"] = signed_repo.commit({"a": "7\n"}, signer=keys.signer("mallory"))
    signed_repo.commit({"a": "8\n"}, signer=keys.signer("alice"))
    made["openpgp changed after signing"] = signed_repo.tamper_head()
    signed_repo.commit({"a": "9\n"}, signer=keys.signer("bob"))
    made["ssh changed after signing"] = signed_repo.tamper_head()
    made["openpgp key expired before the commit"] = signed_repo.commit(
        {"a": "10\n"},
        signer=keys.signer("expired"),
        when=EXPIRED_KEY_CREATED + timedelta(days=2),
        signed_at=EXPIRED_KEY_CREATED + timedelta(hours=1),
    )
    made["openpgp signing subkey"] = signed_repo.commit(
        {"a": "10b\n"}, signer=keys.signer("subkey")
    )
    made["openpgp git commit -S with a subkey"] = signed_repo.git_commit(
        {"a": "10c\n"}, key=keys.subkey
    )
    made["openpgp subkey expired before the commit"] = signed_repo.commit(
        {"a": "10d\n"},
        signer=keys.signer("expired_subkey"),
        when=EXPIRED_KEY_CREATED + timedelta(days=2),
        signed_at=EXPIRED_KEY_CREATED + timedelta(hours=1),
    )
    made["openpgp key revoked"] = signed_repo.commit({"a": "11\n"}, signer=keys.signer("revoked"))
    made["ssh key inside its window"] = signed_repo.commit(
        {"a": "12\n"}, signer=keys.signer("dave")
    )
    made["ssh key before its window"] = signed_repo.commit(
        {"a": "13\n"}, signer=keys.signer("dave"), when=now - timedelta(days=5)
    )
    made["ssh key after its window"] = signed_repo.commit(
        {"a": "14\n"}, signer=keys.signer("dave"), when=now + timedelta(days=5)
    )
    return made


def test_signature_verdicts_match_git_verify_commit_on_every_fixture(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter, git_verifier: GitVerifier
) -> None:
    made = build_fixtures(signed_repo, keys)
    now = datetime.now(UTC)
    signers = {
        "alice": {"openpgp": keys.alice.public},
        "carol": {"openpgp": keys.carol.public},
        "old": {"openpgp": keys.expired.public},
        "gone": {"openpgp": keys.revoked_public},
        "sam": {"openpgp": keys.subkey.public},
        "bob": {"ssh": [keys.bob.public]},
        "dave": {
            "ssh": [
                {
                    "key": keys.dave.public,
                    "validAfter": (now - timedelta(days=1)).isoformat(),
                    "validBefore": (now + timedelta(days=1)).isoformat(),
                }
            ]
        },
    }
    result = verify_range(
        GitRepository(signed_repo.path), write_policy(signers=signers), since=None, target="HEAD"
    )
    ours = {c.sha: c for c in result.commits}
    table = []
    for name, sha in made.items():
        # The policy allows every path to everyone, so only signature reasons can fail here.
        assert ours[sha].trusted or ours[sha].reason in SIGNATURE_REASONS
        table.append((name, ours[sha].trusted, git_verifier.verify_commit(signed_repo.path, sha)))
    disagreements = [row for row in table if row[1] != row[2]]
    assert not disagreements, disagreements
    # Both outcomes are represented, so agreement is not trivially all-pass or all-fail.
    assert {row[1] for row in table} == {True, False}


def test_a_key_that_expired_after_the_commit_is_the_one_documented_difference_from_git(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter, git_verifier: GitVerifier
) -> None:
    # gpg judges key expiry at verification time; the trust policy judges it at commit time,
    # so history signed while a key was valid stays valid after the key expires.
    made = EXPIRED_KEY_CREATED + timedelta(hours=2)
    sha = signed_repo.commit({"a": "1\n"}, signer=keys.signer("expired"), when=made, signed_at=made)
    result = verify_range(GitRepository(signed_repo.path), write_policy(), since=None, target=sha)
    assert result.trusted
    assert git_verifier.verify_commit(signed_repo.path, sha) is False


def test_tag_signature_verdicts_match_git_verify_tag(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter, git_verifier: GitVerifier
) -> None:
    signed_repo.commit({"a": "1\n"}, signer=keys.signer("alice"))
    tags = {
        "by-alice": keys.signer("alice"),
        "by-bob": keys.signer("bob"),
        "by-eve": keys.signer("eve"),
        "by-mallory": keys.signer("mallory"),
        "unsigned": None,
    }
    for name, signer in tags.items():
        signed_repo.tag(name, signer=signer)
    repo, policy = GitRepository(signed_repo.path), write_policy()
    ours = {name: verify_tag(repo, policy, repo.annotated_tag(name) or "") for name in tags}
    table = [(n, ours[n].trusted, git_verifier.verify_tag(signed_repo.path, n)) for n in tags]
    assert [row for row in table if row[1] != row[2]] == []
    assert [n for n, trusted, _ in table if trusted] == ["by-alice", "by-bob"]
