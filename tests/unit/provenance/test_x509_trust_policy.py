"""Trust-policy entries for X.509 and Sigstore signers: strict, and errors name the key."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization

from gatekeeper.provenance import TrustPolicyError, load_trust_policy, parse_trust_policy
from tests.fixtures.signing import CertAuthority, make_ca, trusted_root_json


@pytest.fixture(scope="module")
def ca() -> CertAuthority:
    return make_ca("Policy Root")


def document(signer: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "gatekeeper.dev/v1alpha1",
        "kind": "TrustPolicy",
        "signers": [{"name": "carol", **signer}],
        "rules": [{"paths": ["**"], "signers": ["*"]}],
    }


def refused(signer: dict[str, Any], base: Path | None = None) -> str:
    with pytest.raises(TrustPolicyError) as caught:
        parse_trust_policy(document(signer), origin="trust.yaml", base=base)
    return str(caught.value)


def test_a_roots_file_is_read_relative_to_the_trust_policy(
    ca: CertAuthority, tmp_path: Path
) -> None:
    (tmp_path / "certs").mkdir()
    (tmp_path / "certs" / "corp.pem").write_text(ca.pem)
    (tmp_path / "trust.yaml").write_text(
        "apiVersion: gatekeeper.dev/v1alpha1\nkind: TrustPolicy\nsigners:\n"
        "  - name: carol\n    emails: [carol@example.com]\n"
        "    x509: {rootsFile: certs/corp.pem}\n"
        "rules:\n  - paths: ['**']\n    signers: ['*']\n"
    )
    assert load_trust_policy(tmp_path / "trust.yaml").signers == ("carol",)


@pytest.mark.parametrize(
    ("signer", "message"),
    [
        ({"x509": {"roots": "PEM", "rootz": "x"}}, r"signers\[0\]\.x509\.rootz: unknown key"),
        ({"emails": ["c@example.com"], "x509": {}}, "exactly one of roots"),
        ({"x509": {"roots": "CA"}}, "no PEM certificate"),
        ({"sigstore": {"issuer": "https://i", "subjects": ["d@x"]}}, "exactly one of trustedRoot"),
        (
            {"sigstore": {"issuer": "https://i", "subjects": [], "fulcioRoots": "x"}},
            r"signers\[0\]\.sigstore\.subjects: List should have at least 1 item",
        ),
        (
            {"sigstore": {"issuer": "https://i", "subject": ["d@x"], "fulcioRoots": "x"}},
            r"signers\[0\]\.sigstore\.subject: unknown key",
        ),
    ],
)
def test_broken_entries_are_refused_naming_the_key(signer: dict[str, Any], message: str) -> None:
    assert re.search(message, refused(signer))


def test_an_x509_signer_must_list_the_emails_its_certificates_name(ca: CertAuthority) -> None:
    assert "has x509 roots but no emails" in refused({"x509": {"roots": ca.pem}})


def test_an_end_entity_certificate_is_not_a_root(ca: CertAuthority) -> None:
    leaf = ca.issue(emails=("carol@example.com",))
    pem = leaf.cert.public_bytes(serialization.Encoding.PEM).decode()
    message = refused({"emails": ["carol@example.com"], "x509": {"roots": pem}})
    assert "trust.yaml: signers[0].x509: roots: certificate 0 (" in message
    assert "is not a CA certificate" in message


def test_a_missing_roots_file_or_trusted_root_is_refused(tmp_path: Path) -> None:
    message = refused({"emails": ["c@x"], "x509": {"rootsFile": "nope.pem"}}, base=tmp_path)
    assert "rootsFile: cannot read nope.pem" in message
    (tmp_path / "root.json").write_text('{"tlogs": []}')
    spec = {"issuer": "https://i", "subjects": ["d@x"], "trustedRoot": "root.json"}
    assert "certificateAuthorities is expected" in refused({"sigstore": spec}, base=tmp_path)


def test_a_trusted_root_file_is_read(ca: CertAuthority, tmp_path: Path) -> None:
    (tmp_path / "root.json").write_text(trusted_root_json([(ca,)]))
    spec = {"issuer": "https://i", "subjects": ["d@x"], "trustedRoot": "root.json"}
    policy = parse_trust_policy(document({"sigstore": spec}), base=tmp_path)
    assert policy.signers == ("carol",)


def test_private_key_material_is_refused(ca: CertAuthority) -> None:
    text = ca.pem + "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"
    assert "private key material" in refused({"emails": ["c@x"], "x509": {"roots": text}})
