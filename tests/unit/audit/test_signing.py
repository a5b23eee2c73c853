"""Checkpoint keys: generation, loading, and signatures that fail on any change."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ec import SECP256R1, generate_private_key

from gatekeeper.audit.errors import SigningKeyError
from gatekeeper.audit.signing import (
    checkpoint_message,
    generate_keypair,
    load_signer,
    load_verifier,
)


def test_keygen_writes_a_private_key_only_its_owner_can_read(tmp_path: Path) -> None:
    private_path, public_path = generate_keypair(tmp_path / "keys")
    assert private_path.name == "audit-ed25519.pem"
    assert public_path.name == "audit-ed25519.pub"
    assert stat.S_IMODE(private_path.stat().st_mode) == 0o600
    assert b"PUBLIC KEY" in public_path.read_bytes()


def test_keygen_refuses_to_overwrite_a_key(tmp_path: Path) -> None:
    generate_keypair(tmp_path)
    with pytest.raises(SigningKeyError, match="refusing to overwrite"):
        generate_keypair(tmp_path)


def test_a_signature_verifies_and_fails_on_any_other_message(tmp_path: Path) -> None:
    private_path, public_path = generate_keypair(tmp_path)
    signer, verifier = load_signer(path=private_path), load_verifier(public_path)
    assert signer.key_id == verifier.key_id
    message = checkpoint_message(seq=3, head_hash="a" * 64, time="t", key=signer.key_id)
    signature = signer.sign(message)
    assert verifier.is_valid(message, signature)
    other = checkpoint_message(seq=4, head_hash="a" * 64, time="t", key=signer.key_id)
    assert not verifier.is_valid(other, signature)
    assert not verifier.is_valid(message, "not base64!")


def test_a_key_can_be_given_inline(tmp_path: Path) -> None:
    private_path, _ = generate_keypair(tmp_path)
    assert (
        load_signer(pem=private_path.read_bytes()).key_id == load_signer(path=private_path).key_id
    )


def test_a_missing_key_explains_how_to_make_one() -> None:
    with pytest.raises(SigningKeyError, match="gatekeeper audit keygen"):
        load_signer()


def test_a_key_that_is_not_ed25519_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ec.pem"
    path.write_bytes(
        generate_private_key(SECP256R1()).private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    with pytest.raises(SigningKeyError, match="not an Ed25519 key"):
        load_signer(path=path)


def test_garbage_is_not_a_key(tmp_path: Path) -> None:
    path = tmp_path / "junk.pem"
    path.write_text("hello")
    with pytest.raises(SigningKeyError, match="not an unencrypted PEM"):
        load_signer(path=path)
