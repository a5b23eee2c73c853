"""Ed25519 keys for checkpoints: generated, loaded from files or the environment, never stored."""

from __future__ import annotations

import base64
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from gatekeeper.audit.errors import SigningKeyError
from gatekeeper.audit.freshness import Freshness
from gatekeeper.canonical import canonical_json

PRIVATE_NAME = "audit-ed25519.pem"
PUBLIC_NAME = "audit-ed25519.pub"


def key_id(public_key: Ed25519PublicKey) -> str:
    """`ed25519:<hex>`: SHA-256 of the raw public key, first 32 hex digits."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:32]


def checkpoint_message(*, seq: int, head_hash: str, time: str, key: str) -> bytes:
    """The exact bytes a checkpoint signs."""
    return canonical_json(
        {
            "type": "gatekeeper.audit.checkpoint/v1",
            "seq": seq,
            "head": head_hash,
            "time": time,
            "key_id": key,
        }
    )


@dataclass(frozen=True)
class Signer:
    """A loaded private key and its public half's id."""

    private_key: Ed25519PrivateKey

    @property
    def public_key(self) -> Ed25519PublicKey:
        return self.private_key.public_key()

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def sign(self, message: bytes) -> str:
        return base64.b64encode(self.private_key.sign(message)).decode("ascii")


@dataclass(frozen=True)
class Verifier:
    """A public key that checks checkpoint signatures, and, when checkpoints are configured
    for a store, how fresh the newest must be (`audit verify` checks the store against it)."""

    public_key: Ed25519PublicKey
    freshness: Freshness | None = None

    @property
    def key_id(self) -> str:
        return key_id(self.public_key)

    def is_valid(self, message: bytes, signature: str) -> bool:
        try:
            self.public_key.verify(base64.b64decode(signature, validate=True), message)
        except (InvalidSignature, ValueError):
            return False
        return True


def generate_keypair(directory: Path, *, overwrite: bool = False) -> tuple[Path, Path]:
    """Write a new key pair as `audit-ed25519.pem` (mode 0600) and `audit-ed25519.pub`."""
    private_path, public_path = directory / PRIVATE_NAME, directory / PUBLIC_NAME
    if not overwrite and (private_path.exists() or public_path.exists()):
        raise SigningKeyError(f"{private_path} or {public_path} exists; refusing to overwrite")
    directory.mkdir(parents=True, exist_ok=True)
    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    descriptor = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "wb") as handle:
        handle.write(private_pem)
    public_path.write_bytes(public_pem)
    return private_path, public_path


def load_signer(*, pem: bytes | None = None, path: Path | None = None) -> Signer:
    """The private key from inline PEM (environment) or from a file."""
    origin = "the configured key" if pem is not None else str(path)
    if pem is None:
        if path is None:
            raise SigningKeyError(
                "no checkpoint signing key: set audit.signingKeyFile or audit.signingKey "
                "(create one with `gatekeeper audit keygen --out DIR`)"
            )
        try:
            pem = path.read_bytes()
        except OSError as exc:
            raise SigningKeyError(f"cannot read signing key {path}: {exc.strerror}") from exc
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise SigningKeyError(f"{origin} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise SigningKeyError(f"{origin} is not an Ed25519 key")
    return Signer(key)


def load_verifier(path: Path) -> Verifier:
    """The public key from a PEM file (a private key file is accepted too)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise SigningKeyError(f"cannot read public key {path}: {exc.strerror}") from exc
    try:
        public = serialization.load_pem_public_key(data)
    except ValueError:
        return Verifier(load_signer(pem=data).public_key)
    if not isinstance(public, Ed25519PublicKey):
        raise SigningKeyError(f"{path} is not an Ed25519 public key")
    return Verifier(public)
