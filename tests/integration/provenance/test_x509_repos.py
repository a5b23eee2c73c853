"""Real commits signed by git with gpgsm (gpg.format=x509), verified against the trust policy.

The CA and the user certificate are made by the test; gpgsm holds the user's RSA key (gpgsm
2.2 cannot import ECC keys from PKCS#12). `git verify-commit` with the same gpgsm home gives
the same answer on the good and the changed commit.
"""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID

from gatekeeper.provenance import (
    GitRepository,
    Reason,
    TrustPolicy,
    load_trust_policy,
    verify_range,
)
from tests.fixtures.gitrepo import (
    GpgsmHome,
    SignedRepo,
    gpgsm_commit,
    pkcs12_bundle,
    trust_policy_yaml,
)
from tests.fixtures.signing import CertAuthority, CertifiedKey, make_ca

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def corp() -> CertAuthority:
    return make_ca("Corp Root")


@pytest.fixture(scope="module")
def carol(corp: CertAuthority) -> CertifiedKey:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    now = datetime.now(UTC).replace(microsecond=0)
    return corp.issue(
        emails=("carol@example.com",),
        common_name="Carol",
        key=key,
        not_before=now - timedelta(days=2),
        not_after=now + timedelta(days=20),
    )


@pytest.fixture(scope="module")
def gpgsm(
    tmp_path_factory: pytest.TempPathFactory, corp: CertAuthority, carol: CertifiedKey
) -> Iterator[tuple[GpgsmHome, str]]:
    home = GpgsmHome.create(tmp_path_factory.mktemp("gpgsm"))
    home.trust_root(corp.pem)
    fingerprint = carol.cert.fingerprint(hashes.SHA1()).hex().upper()
    key_id = home.import_identity(pkcs12_bundle(carol.key, carol.cert, (corp.cert,)), fingerprint)
    yield home, key_id
    home.close()


def write_policy(
    path: Path, root: CertAuthority, rules: list[dict[str, Any]] | None = None
) -> TrustPolicy:
    (path / "corp-root.pem").write_text(root.pem)
    text = trust_policy_yaml(
        signers={
            "carol": {"emails": ["carol@example.com"], "x509": {"rootsFile": "corp-root.pem"}},
            "alice": {"emails": ["alice@example.com"], "x509": {"rootsFile": "corp-root.pem"}},
        },
        rules=rules or [{"paths": ["**"], "signers": ["*"]}],
    )
    (path / "trust.yaml").write_text(text)
    return load_trust_policy(path / "trust.yaml")


def verify_commit(repo: SignedRepo, home: GpgsmHome, sha: str) -> bool:
    done = subprocess.run(
        ["git", "-C", str(repo.path), "-c", "gpg.x509.program=gpgsm", "verify-commit", sha],
        env=home.env,
        capture_output=True,
        check=False,
    )
    return done.returncode == 0


def test_a_commit_signed_by_gpgsm_with_a_listed_root_is_trusted_and_git_agrees(
    signed_repo: SignedRepo, gpgsm: tuple[GpgsmHome, str], corp: CertAuthority, tmp_path: Path
) -> None:
    home, key_id = gpgsm
    sha = gpgsm_commit(
        signed_repo, {"a.yaml": "a: 1\n"}, home=home, key_id=key_id, email="carol@example.com"
    )
    result = verify_range(
        GitRepository(signed_repo.path), write_policy(tmp_path, corp), since=None, target="main"
    )
    (commit,) = result.commits
    assert (commit.reason, commit.signer, commit.format) == (Reason.TRUSTED, "carol", "x509")
    assert verify_commit(signed_repo, home, sha)


def test_the_same_commit_under_another_ca_is_an_unknown_key(
    signed_repo: SignedRepo, gpgsm: tuple[GpgsmHome, str], tmp_path: Path
) -> None:
    home, key_id = gpgsm
    gpgsm_commit(
        signed_repo, {"a.yaml": "a: 1\n"}, home=home, key_id=key_id, email="carol@example.com"
    )
    policy = write_policy(tmp_path, make_ca("Someone Else's Root"))
    result = verify_range(GitRepository(signed_repo.path), policy, since=None, target="main")
    assert result.commits[0].reason is Reason.UNKNOWN_KEY


def test_a_commit_dated_after_the_certificate_expired_is_an_expired_key(
    signed_repo: SignedRepo,
    gpgsm: tuple[GpgsmHome, str],
    corp: CertAuthority,
    carol: CertifiedKey,
    tmp_path: Path,
) -> None:
    home, key_id = gpgsm
    after = carol.cert.not_valid_after_utc + timedelta(days=3)
    gpgsm_commit(
        signed_repo,
        {"a.yaml": "a: 1\n"},
        home=home,
        key_id=key_id,
        email="carol@example.com",
        when=after,
    )
    result = verify_range(
        GitRepository(signed_repo.path), write_policy(tmp_path, corp), since=None, target="main"
    )
    assert (result.commits[0].reason, result.commits[0].signer) == (Reason.EXPIRED_KEY, "carol")


def test_a_commit_changed_after_signing_is_a_bad_signature_and_git_agrees(
    signed_repo: SignedRepo, gpgsm: tuple[GpgsmHome, str], corp: CertAuthority, tmp_path: Path
) -> None:
    home, key_id = gpgsm
    gpgsm_commit(
        signed_repo, {"a.yaml": "a: 1\n"}, home=home, key_id=key_id, email="carol@example.com"
    )
    forged = signed_repo.tamper_head()
    result = verify_range(
        GitRepository(signed_repo.path), write_policy(tmp_path, corp), since=None, target="main"
    )
    assert result.commits[0].reason is Reason.BAD_SIGNATURE
    assert not verify_commit(signed_repo, home, forged)


def test_a_certificate_signer_may_not_change_a_path_its_rule_withholds(
    signed_repo: SignedRepo, gpgsm: tuple[GpgsmHome, str], corp: CertAuthority, tmp_path: Path
) -> None:
    home, key_id = gpgsm
    gpgsm_commit(
        signed_repo, {"docs/a.md": "a\n"}, home=home, key_id=key_id, email="carol@example.com"
    )
    gpgsm_commit(
        signed_repo,
        {"apps/payments/db.yaml": "x: 1\n"},
        home=home,
        key_id=key_id,
        email="carol@example.com",
    )
    rules = [
        {"paths": ["apps/payments/**"], "signers": ["alice"]},
        {"paths": ["**"], "signers": ["*"]},
    ]
    result = verify_range(
        GitRepository(signed_repo.path),
        write_policy(tmp_path, corp, rules),
        since=None,
        target="main",
    )
    assert [c.reason for c in result.commits] == [Reason.TRUSTED, Reason.SIGNER_NOT_ALLOWED]
    assert result.commits[1].path == "apps/payments/db.yaml"


class GitsignLikeSigner:
    """Signs as gitsign does: a CMS signature by a ten-minute Fulcio-style certificate."""

    email = "dave@example.com"

    def __init__(self, key: CertifiedKey) -> None:
        self.key = key

    def sign(self, payload: bytes, at: datetime | None) -> bytes:
        return self.key.sign(payload)


def test_a_gitsign_style_signature_in_a_real_commit_is_verified_offline(
    signed_repo: SignedRepo, tmp_path: Path
) -> None:
    root = make_ca("Fulcio Root")
    intermediate = root.intermediate("Fulcio Intermediate")
    now = datetime.now(UTC).replace(microsecond=0)
    leaf = intermediate.issue(
        emails=("dave@example.com",),
        not_before=now - timedelta(minutes=1),
        not_after=now + timedelta(minutes=9),
        usage=ExtendedKeyUsageOID.CODE_SIGNING,
        oidc_issuer="https://accounts.example.com",
    )
    signer = GitsignLikeSigner(CertifiedKey(leaf.key, leaf.cert, (intermediate.cert,)))
    signed_repo.commit({"a.yaml": "a: 1\n"}, signer=signer)  # type: ignore[arg-type]
    (tmp_path / "fulcio.pem").write_text(root.pem)
    sigstore = {"issuer": "https://accounts.example.com", "subjects": ["dave@example.com"]}
    text = trust_policy_yaml(
        signers={"dave": {"sigstore": sigstore | {"fulcioRoots": root.pem}}},
        rules=[{"paths": ["**"], "signers": ["*"]}],
    )
    (tmp_path / "trust.yaml").write_text(text)
    policy = load_trust_policy(tmp_path / "trust.yaml")
    repo = GitRepository(signed_repo.path)
    (commit,) = verify_range(repo, policy, since=None, target="main").commits
    assert (commit.reason, commit.signer) == (Reason.TRUSTED, "dave")
    signed_repo.tamper_head()
    (forged,) = verify_range(repo, policy, since=None, target="main").commits
    assert forged.reason is Reason.BAD_SIGNATURE
