"""Detached report signatures: they state exactly the bytes, and anyone can check them."""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.canonical import canonical_json
from gatekeeper.report.errors import SignatureInvalid
from gatekeeper.report.signing import (
    ReportSignature,
    sign_bytes,
    sign_file,
    signature_path,
    verify_bytes,
    verify_file,
)


@pytest.fixture
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


def test_a_signature_round_trips_and_verifies(signer: Signer) -> None:
    data = "Compliance report ü € 中".encode()
    signature = ReportSignature.from_bytes(sign_bytes(data, signer).to_bytes())
    verify_bytes(data, signature, key=Verifier(signer.public_key))
    assert signature.size == len(data) and signature.key_id == signer.key_id


def test_changed_bytes_another_key_or_a_forged_signature_fail(signer: Signer) -> None:
    data = b"report"
    signature = sign_bytes(data, signer)
    key = Verifier(signer.public_key)
    with pytest.raises(SignatureInvalid, match="changed after it was signed"):
        verify_bytes(data + b"!", signature, key=key)
    other = Verifier(Ed25519PrivateKey.generate().public_key())
    with pytest.raises(SignatureInvalid, match="not by the trusted key"):
        verify_bytes(data, signature, key=other)
    forged = ReportSignature(
        sha256=signature.sha256,
        size=signature.size,
        key_id=signature.key_id,
        signed_at="2030-01-01T00:00:00.000000Z",
        signature=signature.signature,
    )
    with pytest.raises(SignatureInvalid, match="does not verify"):
        verify_bytes(data, forged, key=key)


@pytest.mark.parametrize(
    "document",
    [b"not json", b"{}", b'{"statement": {"type": "other"}, "signature": "x"}'],
)
def test_anything_but_a_signature_file_is_refused(document: bytes) -> None:
    with pytest.raises(SignatureInvalid):
        ReportSignature.from_bytes(document)


def test_a_file_is_signed_beside_itself(signer: Signer, tmp_path: Path) -> None:
    report = tmp_path / "report.pdf"
    report.write_bytes(b"%PDF-1.7 ...")
    sign_file(report, signer)
    assert signature_path(report) == tmp_path / "report.pdf.sig"
    assert verify_file(report, key=Verifier(signer.public_key)).sha256


@pytest.mark.skipif(not (shutil.which("openssl") and shutil.which("jq")), reason="no openssl/jq")
def test_the_documented_recipe_checks_a_signature_with_jq_and_openssl(
    signer: Signer, tmp_path: Path
) -> None:
    report = tmp_path / "report.csv"
    report.write_bytes(b"seq,time\n1,2026-11-01T00:00:00.000000Z\n")
    sign_file(report, signer)
    public = tmp_path / "audit.pub"
    public.write_bytes(
        signer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    sig = signature_path(report)
    statement = subprocess.run(
        ["jq", "-jcS", ".statement", str(sig)], capture_output=True, check=True
    ).stdout
    document = json.loads(sig.read_bytes())
    assert statement == canonical_json(document["statement"])
    (tmp_path / "statement.json").write_bytes(statement)
    (tmp_path / "signature.bin").write_bytes(base64.b64decode(document["signature"]))
    checked = subprocess.run(
        [
            "openssl", "pkeyutl", "-verify", "-pubin", "-inkey", str(public), "-rawin",
            "-in", str(tmp_path / "statement.json"), "-sigfile", str(tmp_path / "signature.bin"),
        ],
        capture_output=True,
        text=True,
        check=False,
    )  # fmt: skip
    assert checked.returncode == 0, checked.stderr
    digest = subprocess.run(["sha256sum", str(report)], capture_output=True, text=True, check=True)
    assert digest.stdout.split()[0] == document["statement"]["sha256"]
