"""Range verification over real repositories signed with real gpg and ssh-keygen keys."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gatekeeper.provenance import (
    GitRepository,
    RangeVerdict,
    Reason,
    SignatureFormat,
    TrustPolicy,
    verify_range,
)
from gatekeeper.provenance.errors import TrustPolicyError
from tests.fixtures.gitrepo import (
    EXPIRED_KEY_CREATED,
    Keys,
    PolicyWriter,
    SignedRepo,
    standard_signers,
)

pytestmark = pytest.mark.integration


def check(
    signed_repo: SignedRepo, policy: TrustPolicy, *, since: str | None = None, target: str = "HEAD"
) -> RangeVerdict:
    return verify_range(GitRepository(signed_repo.path), policy, since=since, target=target)


def test_a_commit_signed_with_a_trusted_openpgp_key_is_trusted(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    sha = signed_repo.commit({"apps/a.yaml": "a: 1\n"}, signer=keys.signer("alice"))
    result = check(signed_repo, write_policy())
    assert result.trusted
    (commit,) = result.commits
    assert commit.sha == sha
    assert commit.format is SignatureFormat.OPENPGP
    assert commit.signer == "alice"
    assert commit.key_id == keys.alice.fingerprint
    assert commit.paths == ("apps/a.yaml",)


def test_a_commit_signed_with_a_trusted_ssh_key_is_trusted(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    signed_repo.commit({"apps/a.yaml": "a: 1\n"}, signer=keys.signer("bob"))
    (commit,) = check(signed_repo, write_policy()).commits
    assert commit.trusted
    assert commit.format is SignatureFormat.SSH
    assert commit.signer == "bob"
    assert commit.key_id is not None and commit.key_id.startswith("SHA256:")


def test_an_unsigned_commit_is_rejected_as_unsigned(
    signed_repo: SignedRepo, write_policy: PolicyWriter
) -> None:
    signed_repo.commit({"a.yaml": "a\n"}, signer=None)
    result = check(signed_repo, write_policy())
    assert not result.trusted
    assert result.commits[0].reason is Reason.UNSIGNED


@pytest.mark.parametrize("name", ["eve", "mallory"])
def test_a_commit_signed_by_a_key_the_policy_does_not_list_is_an_unknown_key(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter, name: str
) -> None:
    signed_repo.commit({"a.yaml": "a\n"}, signer=keys.signer(name))
    (commit,) = check(signed_repo, write_policy()).commits
    assert commit.reason is Reason.UNKNOWN_KEY
    assert commit.signer is None


@pytest.mark.parametrize("name", ["alice", "bob"])
def test_a_commit_changed_after_signing_has_a_bad_signature(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter, name: str
) -> None:
    signed_repo.commit({"a.yaml": "a\n"}, signer=keys.signer(name), message="honest")
    forged = signed_repo.tamper_head("something else")
    (commit,) = check(signed_repo, write_policy()).commits
    assert commit.sha == forged
    assert commit.reason is Reason.BAD_SIGNATURE


def test_a_commit_made_after_its_openpgp_key_expired_is_rejected(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    # Signed while the key was valid (gpg's clock set back), committed two days later.
    signed_repo.commit(
        {"a.yaml": "a\n"},
        signer=keys.signer("expired"),
        when=EXPIRED_KEY_CREATED + timedelta(days=2),
        signed_at=EXPIRED_KEY_CREATED + timedelta(hours=1),
    )
    (commit,) = check(signed_repo, write_policy()).commits
    assert commit.reason is Reason.EXPIRED_KEY
    assert commit.signer == "old"


def test_a_commit_made_before_its_openpgp_key_existed_is_rejected(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    signed_repo.commit(
        {"a.yaml": "a\n"},
        signer=keys.signer("expired"),
        when=EXPIRED_KEY_CREATED - timedelta(days=30),
        signed_at=EXPIRED_KEY_CREATED + timedelta(hours=1),
    )
    (commit,) = check(signed_repo, write_policy()).commits
    assert commit.reason is Reason.EXPIRED_KEY
    assert "not valid yet" in commit.detail


def test_a_commit_made_while_an_openpgp_key_was_valid_stays_trusted_after_it_expires(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    made = EXPIRED_KEY_CREATED + timedelta(hours=2)
    signed_repo.commit({"a.yaml": "a\n"}, signer=keys.signer("expired"), when=made, signed_at=made)
    assert check(signed_repo, write_policy()).trusted


def test_a_signing_subkey_is_trusted_and_named_while_an_expired_one_is_rejected(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    good = signed_repo.commit({"a.yaml": "a\n"}, signer=keys.signer("subkey"))
    expired = signed_repo.commit(
        {"a.yaml": "b\n"},
        signer=keys.signer("expired_subkey"),
        when=EXPIRED_KEY_CREATED + timedelta(days=2),
        signed_at=EXPIRED_KEY_CREATED + timedelta(hours=1),
    )
    verdicts = {c.sha: c for c in check(signed_repo, write_policy()).commits}
    assert verdicts[good].trusted
    assert verdicts[good].signer == "sam"
    assert verdicts[good].key_id == keys.subkey.fingerprint
    assert verdicts[expired].reason is Reason.EXPIRED_KEY
    assert keys.expired_subkey.fingerprint in verdicts[expired].detail


def test_a_commit_signed_by_a_revoked_openpgp_key_is_rejected(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    signed_repo.commit({"a.yaml": "a\n"}, signer=keys.signer("revoked"))
    (commit,) = check(signed_repo, write_policy()).commits
    assert commit.reason is Reason.REVOKED_KEY
    assert commit.signer == "gone"


def test_ssh_keys_are_only_trusted_inside_their_validity_window(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    signed_repo.commit({"a.yaml": "1\n"}, signer=keys.signer("bob"), when=now - timedelta(days=10))
    signed_repo.commit({"a.yaml": "2\n"}, signer=keys.signer("bob"), when=now)
    signed_repo.commit({"a.yaml": "3\n"}, signer=keys.signer("bob"), when=now + timedelta(days=10))
    signers = standard_signers(keys)
    signers["bob"] = {
        "ssh": [
            {
                "key": keys.bob.public,
                "validAfter": (now - timedelta(days=1)).isoformat(),
                "validBefore": (now + timedelta(days=1)).isoformat(),
            }
        ]
    }
    old, current, late = check(signed_repo, write_policy(signers=signers)).commits
    assert [old.reason, current.reason, late.reason] == [
        Reason.EXPIRED_KEY,
        Reason.TRUSTED,
        Reason.EXPIRED_KEY,
    ]
    assert "only after" in old.detail
    assert "only before" in late.detail


PAYMENTS_RULES: list[dict[str, object]] = [
    {"paths": ["apps/payments/**"], "signers": ["alice", "bob"]},
    {"paths": ["**"], "signers": ["*"]},
]


def test_a_signer_changing_a_path_its_rules_do_not_allow_is_rejected_naming_path_and_rule(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    signed_repo.commit(
        {"apps/web/site.yaml": "ok\n", "apps/payments/db.yaml": "no\n"}, signer=keys.signer("dave")
    )
    (commit,) = check(signed_repo, write_policy(PAYMENTS_RULES)).commits
    assert commit.reason is Reason.SIGNER_NOT_ALLOWED
    assert commit.path == "apps/payments/db.yaml"
    assert commit.rule == "rules[0] (apps/payments/**)"
    assert "dave" in commit.detail


def test_the_most_specific_rule_decides_so_a_catch_all_does_not_widen_a_narrow_rule(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    signed_repo.commit({"apps/payments/db.yaml": "x\n"}, signer=keys.signer("alice"))
    signed_repo.commit({"apps/web/site.yaml": "x\n"}, signer=keys.signer("dave"))
    assert check(signed_repo, write_policy(PAYMENTS_RULES)).trusted


def test_a_path_no_rule_matches_is_not_allowed(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    signed_repo.commit({"infra/net.yaml": "x\n"}, signer=keys.signer("alice"))
    (commit,) = check(signed_repo, write_policy([{"paths": ["apps/**"], "signers": ["*"]}])).commits
    assert commit.reason is Reason.SIGNER_NOT_ALLOWED
    assert commit.path == "infra/net.yaml"


TWO_PERSON: list[dict[str, object]] = [
    {"paths": ["apps/payments/**"], "signers": ["alice", "bob", "carol"], "minSigners": 2},
    {"paths": ["**"], "signers": ["*"]},
]


def test_a_two_person_rule_is_met_by_two_distinct_signers_over_the_range(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    base = signed_repo.commit({"README": "x\n"}, signer=keys.signer("alice"))
    signed_repo.commit({"apps/payments/db.yaml": "1\n"}, signer=keys.signer("alice"))
    signed_repo.commit({"apps/payments/db.yaml": "2\n"}, signer=keys.signer("bob"))
    result = check(signed_repo, write_policy(TWO_PERSON), since=base)
    assert result.trusted
    assert result.signers == {"alice", "bob"}


def test_a_two_person_rule_is_not_met_by_one_signer_however_many_commits(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    base = signed_repo.commit({"README": "x\n"}, signer=keys.signer("alice"))
    signed_repo.commit({"apps/payments/db.yaml": "1\n"}, signer=keys.signer("alice"))
    signed_repo.commit({"apps/payments/db.yaml": "2\n"}, signer=keys.signer("alice"))
    signed_repo.commit({"apps/web/site.yaml": "3\n"}, signer=keys.signer("dave"))
    result = check(signed_repo, write_policy(TWO_PERSON), since=base)
    assert not result.trusted
    reasons = [c.reason for c in result.commits]
    assert reasons == [Reason.INSUFFICIENT_SIGNERS, Reason.INSUFFICIENT_SIGNERS, Reason.TRUSTED]
    assert result.commits[0].rule == "rules[0] (apps/payments/**)"


def test_a_signed_merge_counts_toward_a_two_person_rule_by_its_first_parent_diff(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    base = signed_repo.commit({"README": "x\n"}, signer=keys.signer("carol"))
    signed_repo.branch("feature")
    signed_repo.commit({"apps/payments/db.yaml": "1\n"}, signer=keys.signer("alice"))
    signed_repo.checkout("main")
    signed_repo.commit({"docs/notes.md": "n\n"}, signer=keys.signer("dave"))
    merge = signed_repo.merge("feature", signer=keys.signer("bob"))
    result = check(signed_repo, write_policy(TWO_PERSON), since=base)
    assert result.trusted
    by_sha = {c.sha: c for c in result.commits}
    assert by_sha[merge].paths == ("apps/payments/db.yaml",)
    assert len(result.commits) == 3


def test_an_unsigned_merge_of_signed_commits_fails_the_range(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    signed_repo.commit({"README": "x\n"}, signer=keys.signer("alice"))
    signed_repo.branch("feature")
    signed_repo.commit({"apps/x.yaml": "1\n"}, signer=keys.signer("bob"))
    signed_repo.checkout("main")
    signed_repo.commit({"apps/y.yaml": "1\n"}, signer=keys.signer("alice"))
    merge = signed_repo.merge("feature", signer=None)
    result = check(signed_repo, write_policy())
    assert [c.sha for c in result.untrusted] == [merge]
    assert result.untrusted[0].reason is Reason.UNSIGNED


def test_one_bad_commit_in_the_middle_fails_the_range_and_is_named(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    shas = [
        signed_repo.commit({f"apps/{i}.yaml": f"{i}\n"}, signer=keys.signer("alice"))
        for i in range(3)
    ]
    signed_repo.commit({"apps/bad.yaml": "x\n"}, signer=keys.signer("bob"), message="honest")
    bad = signed_repo.tamper_head("rewritten")
    shas.append(bad)
    shas += [
        signed_repo.commit({f"apps/{i}.yaml": f"{i}\n"}, signer=keys.signer("bob")) for i in (5, 6)
    ]
    result = check(signed_repo, write_policy())
    assert [c.sha for c in result.commits] == shas
    assert not result.trusted
    assert [(c.sha, c.reason) for c in result.untrusted] == [(bad, Reason.BAD_SIGNATURE)]


def test_since_limits_the_range_to_commits_after_the_last_synced_one(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    signed_repo.commit({"a": "1\n"}, signer=None)
    synced = signed_repo.commit({"a": "2\n"}, signer=keys.signer("alice"))
    newer = signed_repo.commit({"a": "3\n"}, signer=keys.signer("bob"))
    result = check(signed_repo, write_policy(), since=synced)
    assert result.trusted
    assert [c.sha for c in result.commits] == [newer]


def test_trust_from_starts_a_first_sync_at_that_commit_inclusive(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    signed_repo.commit({"a": "legacy\n"}, signer=None)
    start = signed_repo.commit({"a": "1\n"}, signer=keys.signer("alice"))
    signed_repo.commit({"a": "2\n"}, signer=keys.signer("bob"))
    result = check(signed_repo, write_policy(trust_from=start))
    assert result.trusted
    assert result.commits[0].sha == start
    assert len(result.commits) == 2


def test_a_trust_from_off_the_history_is_a_trust_policy_error_for_every_caller(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    signed_repo.commit({"a": "1\n"}, signer=keys.signer("alice"))
    signed_repo.branch("side")
    elsewhere = signed_repo.commit({"b": "1\n"}, signer=keys.signer("alice"))
    signed_repo.checkout("main")
    signed_repo.commit({"c": "1\n"}, signer=keys.signer("alice"))
    with pytest.raises(TrustPolicyError, match=r"trustFrom .* is not an ancestor"):
        check(signed_repo, write_policy(trust_from=elsewhere))


def test_head_mode_checks_only_the_target_against_every_path_changed_since(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    synced = signed_repo.commit({"README": "x\n"}, signer=keys.signer("alice"))
    signed_repo.commit({"apps/payments/db.yaml": "1\n"}, signer=None)
    head = signed_repo.commit({"apps/web/site.yaml": "1\n"}, signer=keys.signer("alice"))
    result = check(signed_repo, write_policy(PAYMENTS_RULES, mode="head"), since=synced)
    assert result.trusted
    (commit,) = result.commits
    assert commit.sha == head
    assert commit.paths == ("apps/payments/db.yaml", "apps/web/site.yaml")
    # In head mode the target's signer vouches for all of it, so it needs rights on all of it.
    signed_repo.commit({"apps/web/site.yaml": "2\n"}, signer=keys.signer("dave"))
    (late,) = check(signed_repo, write_policy(PAYMENTS_RULES, mode="head"), since=synced).commits
    assert late.reason is Reason.SIGNER_NOT_ALLOWED
    assert late.path == "apps/payments/db.yaml"


def test_a_signed_annotated_tag_is_verified_with_the_commits(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    signed_repo.commit({"a": "1\n"}, signer=keys.signer("alice"))
    good = signed_repo.tag("v1", signer=keys.signer("bob"))
    signed_repo.tag("v1-unsigned", signer=None)
    signed_repo.tag("v1-eve", signer=keys.signer("eve"))
    policy = write_policy()
    trusted = check(signed_repo, policy, target="v1")
    assert trusted.trusted
    assert trusted.tag is not None and trusted.tag.sha == good and trusted.tag.signer == "bob"
    unsigned = check(signed_repo, policy, target="v1-unsigned")
    assert unsigned.tag is not None and unsigned.tag.reason is Reason.UNSIGNED
    assert not unsigned.trusted
    assert check(signed_repo, policy, target="v1-eve").untrusted[0].reason is Reason.UNKNOWN_KEY


@pytest.mark.parametrize("fmt", ["openpgp", "ssh"])
def test_commits_signed_by_git_commit_itself_verify(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter, fmt: str
) -> None:
    if fmt == "openpgp":
        signed_repo.git_commit({"a": "1\n"}, key=keys.alice)
    else:
        signed_repo.git_commit({"a": "1\n"}, key=keys.dave)
    signed_repo.git_commit({"b": "1\n"}, key=keys.dave)
    result = check(signed_repo, write_policy())
    assert result.trusted
    assert result.commits[0].format is SignatureFormat(fmt)


def test_a_sha256_repositorys_commits_verify_as_git_verifies_them(
    tmp_path: Path, keys: Keys, write_policy: PolicyWriter
) -> None:
    """git signs in `gpgsig-sha256` there; reading `gpgsig` found every commit unsigned."""
    repo = SignedRepo.init(tmp_path / "sha256", object_format="sha256")
    repo.git_commit({"a": "1\n"}, key=keys.alice)
    repo.git_commit({"b": "1\n"}, key=keys.dave)
    assert len(repo.head) == 64
    raw = repo.git("cat-file", "commit", "HEAD")
    assert "\ngpgsig-sha256 " in raw
    result = check(repo, write_policy())
    assert result.trusted, result.untrusted
    assert [c.format for c in result.commits] == [SignatureFormat.OPENPGP, SignatureFormat.SSH]
    forged = repo.tamper_head()
    assert len(forged) == 64
    tampered = check(repo, write_policy())
    assert [c.reason for c in tampered.untrusted] == [Reason.BAD_SIGNATURE]
