"""X.509 (S/MIME) and gitsign (Sigstore) CMS signatures against CA roots and Fulcio roots.

The CAs, certificates and signatures are made in-process; the integration tests sign real
commits with gpgsm.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography.x509.oid import ExtendedKeyUsageOID

from gatekeeper.provenance import Reason, SignatureFormat, TrustPolicy, judge_commit
from gatekeeper.provenance import parse_trust_policy as parse
from gatekeeper.provenance.repository import CommitRecord
from tests.fixtures.signing import (
    CertAuthority,
    CertifiedKey,
    make_ca,
    make_commit,
    trusted_root_json,
)

ISSUER = "https://accounts.example.com"
NOW = datetime.now(UTC).replace(microsecond=0)


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def corp() -> CertAuthority:
    return make_ca("Corp Root")


@pytest.fixture(scope="module")
def carol(corp: CertAuthority) -> CertifiedKey:
    return corp.issue(emails=("carol@example.com",), common_name="Carol")


@pytest.fixture(scope="module")
def fulcio() -> tuple[CertAuthority, CertAuthority]:
    root = make_ca("Fulcio Root")
    return root, root.intermediate("Fulcio Intermediate")


def gitsign_key(
    intermediate: CertAuthority,
    *,
    email: str = "dave@example.com",
    issuer: str = ISSUER,
    start: datetime | None = None,
) -> CertifiedKey:
    """A ten-minute certificate as Fulcio issues it for one signature."""
    # From the present moment, not the module's NOW: the signature's signing time is the real
    # time it is made, which on a loaded machine can be many minutes after import.
    begin = start or _now() - timedelta(minutes=1)
    return intermediate.issue(
        emails=(email,),
        not_before=begin,
        not_after=begin + timedelta(minutes=10),
        usage=ExtendedKeyUsageOID.CODE_SIGNING,
        oidc_issuer=issuer,
    )


def policy(*signers: dict[str, Any], rules: list[dict[str, Any]] | None = None) -> TrustPolicy:
    return parse(
        {
            "apiVersion": "gatekeeper.dev/v1alpha1",
            "kind": "TrustPolicy",
            "signers": list(signers),
            "rules": rules or [{"paths": ["**"], "signers": ["*"]}],
        },
        origin="trust.yaml",
    )


def x509_signer(ca: CertAuthority, emails: list[str], name: str = "carol") -> dict[str, Any]:
    return {"name": name, "emails": emails, "x509": {"roots": ca.pem}}


def sigstore_signer(root: CertAuthority, **spec: Any) -> dict[str, Any]:
    entry = {"issuer": ISSUER, "subjects": ["dave@example.com"], "fulcioRoots": root.pem}
    return {"name": "dave", "sigstore": entry | spec}


def commit(
    key: CertifiedKey, *, at: datetime = NOW, paths: tuple[str, ...] = ("a.yaml",)
) -> CommitRecord:
    return make_commit(paths, sign=key.sign, time=int(at.timestamp()))


def test_a_certificate_from_a_listed_root_naming_a_listed_email_is_trusted(
    corp: CertAuthority, carol: CertifiedKey
) -> None:
    verdict = judge_commit(commit(carol), policy(x509_signer(corp, ["carol@example.com"])))
    assert (verdict.reason, verdict.signer, verdict.format) == (
        Reason.TRUSTED,
        "carol",
        SignatureFormat.X509,
    )
    assert verdict.key_id is not None and len(verdict.key_id) == 64


def test_emails_may_be_globs_and_match_without_regard_to_case(
    corp: CertAuthority, carol: CertifiedKey
) -> None:
    trusted = policy(x509_signer(corp, ["*@EXAMPLE.com"], name="staff"))
    assert judge_commit(commit(carol), trusted).signer == "staff"


def test_an_intermediate_carried_in_the_signature_completes_the_chain(corp: CertAuthority) -> None:
    team = corp.intermediate("Team CA")
    issued = team.issue(emails=("erin@example.com",))
    key = CertifiedKey(issued.key, issued.cert, (team.cert,))
    trusted = policy(x509_signer(corp, ["erin@example.com"], name="erin"))
    assert judge_commit(commit(key), trusted).reason is Reason.TRUSTED
    # Without the intermediate there is no path to the root.
    assert judge_commit(commit(issued), trusted).reason is Reason.UNKNOWN_KEY


def test_a_certificate_from_another_ca_is_an_unknown_key(carol: CertifiedKey) -> None:
    other = make_ca("Other Root")
    verdict = judge_commit(commit(carol), policy(x509_signer(other, ["carol@example.com"])))
    assert verdict.reason is Reason.UNKNOWN_KEY
    assert "does not chain to any listed root" in verdict.detail


def test_a_listed_root_vouching_for_an_unlisted_email_is_an_unknown_key(
    corp: CertAuthority, carol: CertifiedKey
) -> None:
    verdict = judge_commit(commit(carol), policy(x509_signer(corp, ["bob@example.com"], "bob")))
    assert verdict.reason is Reason.UNKNOWN_KEY
    assert "carol@example.com chains to the roots of bob but names none" in verdict.detail


def test_a_certificate_not_meant_for_signing_is_an_unknown_key(corp: CertAuthority) -> None:
    server = corp.issue(emails=("carol@example.com",), usage=ExtendedKeyUsageOID.SERVER_AUTH)
    verdict = judge_commit(commit(server), policy(x509_signer(corp, ["carol@example.com"])))
    assert verdict.reason is Reason.UNKNOWN_KEY
    assert "extended key usage" in verdict.detail


def test_a_commit_dated_after_the_certificate_expired_is_an_expired_key(
    corp: CertAuthority, carol: CertifiedKey
) -> None:
    later = carol.cert.not_valid_after_utc + timedelta(days=1)
    verdict = judge_commit(
        commit(carol, at=later), policy(x509_signer(corp, ["carol@example.com"]))
    )
    assert (verdict.reason, verdict.signer) == (Reason.EXPIRED_KEY, "carol")
    assert "expired" in verdict.detail


def test_a_signing_time_after_expiry_is_an_expired_key_even_for_a_backdated_commit(
    corp: CertAuthority,
) -> None:
    # The certificate expired yesterday; the commit claims a time when it was valid, but the
    # signed signing time (now) gives the backdating away.
    old = corp.issue(
        emails=("carol@example.com",),
        not_before=NOW - timedelta(days=10),
        not_after=NOW - timedelta(days=1),
    )
    record = commit(old, at=NOW - timedelta(days=5))
    verdict = judge_commit(record, policy(x509_signer(corp, ["carol@example.com"])))
    assert verdict.reason is Reason.EXPIRED_KEY


def test_a_commit_changed_after_signing_is_a_bad_signature(
    corp: CertAuthority, carol: CertifiedKey
) -> None:
    record = commit(carol)
    forged = record.obj.payload.replace(b"commit ", b"kommit ")
    obj = type(record.obj)(**{**_fields(record), "payload": forged})
    verdict = judge_commit(
        CommitRecord(obj, record.paths), policy(x509_signer(corp, ["carol@example.com"]))
    )
    assert (verdict.reason, verdict.detail) == (
        Reason.BAD_SIGNATURE,
        "signature does not match the content",
    )


def _fields(record: CommitRecord) -> dict[str, Any]:
    obj = record.obj
    return {name: getattr(obj, name) for name in obj.__slots__}  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "signature",
    [
        b"-----BEGIN SIGNED MESSAGE-----\nnot base64!\n-----END SIGNED MESSAGE-----\n",
        b"-----BEGIN SIGNED MESSAGE-----\nMIIBAAYJ\n-----END SIGNED MESSAGE-----\n",
        b"-----BEGIN SIGNED MESSAGE-----\nMAA=\n-----END SIGNED MESSAGE-----\n",
    ],
)
def test_a_malformed_cms_signature_is_a_bad_signature(
    corp: CertAuthority, signature: bytes
) -> None:
    record = make_commit(("a.yaml",), sign=lambda _payload: signature)
    verdict = judge_commit(record, policy(x509_signer(corp, ["carol@example.com"])))
    assert verdict.reason is Reason.BAD_SIGNATURE


def test_the_signers_rules_still_decide_the_paths(corp: CertAuthority, carol: CertifiedKey) -> None:
    trusted = policy(
        x509_signer(corp, ["carol@example.com"]),
        {
            "name": "alice",
            "ssh": [
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIBJ0N8CCJCd6c4tqk6+WrB+9jeAQWzgtRNQSvbUFdLhT"
            ],
        },
        rules=[
            {"paths": ["apps/payments/**"], "signers": ["alice"]},
            {"paths": ["**"], "signers": ["*"]},
        ],
    )
    verdict = judge_commit(commit(carol, paths=("apps/payments/db.yaml",)), trusted)
    assert verdict.reason is Reason.SIGNER_NOT_ALLOWED
    assert (
        verdict.detail
        == "carol may not change apps/payments/db.yaml under rules[0] (apps/payments/**)"
    )


# --- gitsign (Sigstore) ---


def test_a_gitsign_signature_from_the_listed_issuer_and_subject_is_trusted(
    fulcio: tuple[CertAuthority, CertAuthority],
) -> None:
    root, intermediate = fulcio
    key = gitsign_key(intermediate)
    signed = CertifiedKey(key.key, key.cert, (intermediate.cert,))
    # gitsign's certificate is issued after git stamped the commit: the committer time, here
    # an hour earlier, is not compared with the ten-minute certificate.
    record = commit(signed, at=NOW - timedelta(hours=1))
    verdict = judge_commit(record, policy(sigstore_signer(root)))
    assert (verdict.reason, verdict.signer) == (Reason.TRUSTED, "dave")


def test_a_trusted_root_file_supplies_the_intermediates_and_its_window(
    fulcio: tuple[CertAuthority, CertAuthority], tmp_path: Path
) -> None:
    root, intermediate = fulcio
    (tmp_path / "trusted_root.json").write_text(trusted_root_json([(intermediate, root)]))
    spec = sigstore_signer(root)
    del spec["sigstore"]["fulcioRoots"]
    spec["sigstore"]["trustedRoot"] = "trusted_root.json"
    document = {
        "apiVersion": "gatekeeper.dev/v1alpha1",
        "kind": "TrustPolicy",
        "signers": [spec],
        "rules": [{"paths": ["**"], "signers": ["*"]}],
    }
    trusted = parse(document, base=tmp_path)
    # The signature carries only the leaf: the trusted root's chain completes it.
    assert judge_commit(commit(gitsign_key(intermediate)), trusted).reason is Reason.TRUSTED

    (tmp_path / "trusted_root.json").write_text(
        trusted_root_json([(intermediate, root)], valid_until=NOW - timedelta(days=1))
    )
    retired = parse(document, base=tmp_path)
    verdict = judge_commit(commit(gitsign_key(intermediate)), retired)
    assert verdict.reason is Reason.EXPIRED_KEY
    assert "vouched only until" in verdict.detail


@pytest.mark.parametrize(
    ("change", "detail"),
    [
        ({"issuer": "https://other.example.com"}, "names none of their identities"),
        ({"subjects": ["erin@example.com"]}, "names none of their identities"),
    ],
)
def test_another_issuer_or_subject_is_an_unknown_key(
    fulcio: tuple[CertAuthority, CertAuthority], change: dict[str, Any], detail: str
) -> None:
    root, intermediate = fulcio
    key = gitsign_key(intermediate)
    signed = CertifiedKey(key.key, key.cert, (intermediate.cert,))
    verdict = judge_commit(commit(signed), policy(sigstore_signer(root, **change)))
    assert verdict.reason is Reason.UNKNOWN_KEY
    assert detail in verdict.detail


def test_subjects_may_be_globs(fulcio: tuple[CertAuthority, CertAuthority]) -> None:
    root, intermediate = fulcio
    workflow = "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main"
    key = intermediate.issue(
        uris=(workflow,),
        not_before=_now() - timedelta(minutes=1),
        not_after=_now() + timedelta(minutes=9),
        usage=ExtendedKeyUsageOID.CODE_SIGNING,
        oidc_issuer="https://token.actions.githubusercontent.com",
    )
    signed = CertifiedKey(key.key, key.cert, (intermediate.cert,))
    spec = sigstore_signer(
        root,
        issuer="https://token.actions.githubusercontent.com",
        subjects=["https://github.com/org/repo/.github/workflows/*@refs/heads/main"],
    )
    assert judge_commit(commit(signed), policy(spec)).reason is Reason.TRUSTED
    spec["sigstore"]["subjects"] = ["https://github.com/org/*/.github/workflows/x.yml@refs/heads/*"]
    assert judge_commit(commit(signed), policy(spec)).reason is Reason.UNKNOWN_KEY


def test_a_gitsign_certificate_expired_at_signing_time_is_an_expired_key(
    fulcio: tuple[CertAuthority, CertAuthority],
) -> None:
    root, intermediate = fulcio
    key = gitsign_key(intermediate, start=NOW - timedelta(minutes=30))
    signed = CertifiedKey(key.key, key.cert, (intermediate.cert,))
    # The commit time lies inside the window; the signed signing time (now) does not.
    record = commit(signed, at=NOW - timedelta(minutes=25))
    verdict = judge_commit(record, policy(sigstore_signer(root)))
    assert (verdict.reason, verdict.signer) == (Reason.EXPIRED_KEY, "dave")


def test_an_x509_certificate_does_not_pass_for_a_gitsign_identity(
    corp: CertAuthority, fulcio: tuple[CertAuthority, CertAuthority]
) -> None:
    # Same email, but a certificate without Fulcio's issuer extension from another CA.
    root, _ = fulcio
    plain = corp.issue(emails=("dave@example.com",))
    verdict = judge_commit(commit(plain), policy(sigstore_signer(root)))
    assert verdict.reason is Reason.UNKNOWN_KEY
    # Nor does one from the Fulcio CA that lacks the issuer extension.
    _, intermediate = fulcio
    bare = intermediate.issue(emails=("dave@example.com",))
    signed = CertifiedKey(bare.key, bare.cert, (intermediate.cert,))
    assert judge_commit(commit(signed), policy(sigstore_signer(root))).reason is Reason.UNKNOWN_KEY


def test_requiring_a_transparency_log_entry_fails_closed(
    fulcio: tuple[CertAuthority, CertAuthority],
) -> None:
    root, intermediate = fulcio
    key = gitsign_key(intermediate)
    signed = CertifiedKey(key.key, key.cert, (intermediate.cert,))
    verdict = judge_commit(
        commit(signed), policy(sigstore_signer(root, requireTransparencyLog=True))
    )
    assert (verdict.reason, verdict.signer) == (Reason.UNKNOWN_KEY, "dave")
    assert "cannot be verified offline" in verdict.detail
