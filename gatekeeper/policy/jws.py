"""JSON Web Signatures in compact form, verified with one configured key (OPA bundle signing).

Only what OPA's `opa sign` writes is accepted: a JWT of three base64url parts whose header
names the algorithm the key is configured for. The header's `alg` must equal the configured
one, so a token cannot pick a weaker check (`none`, or HMAC keyed with a public key).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from dataclasses import dataclass
from typing import Any, Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils

from gatekeeper.policy.errors import PolicyLoadError

Algorithm = Literal[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512",
    "ES256", "ES384", "ES512", "HS256", "HS384", "HS512",
]  # fmt: skip
ALGORITHMS: tuple[str, ...] = Algorithm.__args__  # type: ignore[attr-defined]

_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "256": hashes.SHA256,
    "384": hashes.SHA384,
    "512": hashes.SHA512,
}
_CURVES = {"ES256": ec.SECP256R1, "ES384": ec.SECP384R1, "ES512": ec.SECP521R1}


class SignatureError(PolicyLoadError):
    """A token that is malformed or whose signature does not verify with the key."""


@dataclass(frozen=True)
class VerificationKey:
    """A public key in PEM (RS*, PS*, ES*) or a shared secret (HS*), for one algorithm."""

    algorithm: Algorithm
    material: bytes
    key_id: str | None = None
    scope: str | None = None

    def check(self) -> None:
        """Refuse a key that cannot serve its algorithm, naming the mismatch."""
        if self.algorithm.startswith("HS"):
            if not self.material.strip():
                raise PolicyLoadError(f"the {self.algorithm} secret is empty")
            return
        _public_key(self)


def b64url_decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode("ascii"))
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise SignatureError(f"not base64url: {exc}") from exc


def verify(token: str, key: VerificationKey) -> dict[str, Any]:
    """The payload of `token` once its signature verifies with `key`; `SignatureError` else."""
    parts = token.split(".")
    if len(parts) != 3:
        raise SignatureError("a signature must be a JWT in compact form (three parts)")
    try:
        header = json.loads(b64url_decode(parts[0]))
        payload = json.loads(b64url_decode(parts[1]))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SignatureError(f"the JWT's header or payload is not JSON: {exc}") from exc
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise SignatureError("the JWT's header and payload must be JSON objects")
    if header.get("alg") != key.algorithm:
        raise SignatureError(
            f"the JWT is signed with {header.get('alg')!r}, the key is for {key.algorithm}"
        )
    signed = f"{parts[0]}.{parts[1]}".encode("ascii")
    if not _valid(key, signed, b64url_decode(parts[2])):
        raise SignatureError("the signature does not verify with the configured key")
    return payload


def _valid(key: VerificationKey, signed: bytes, signature: bytes) -> bool:
    algorithm = key.algorithm
    digest = _HASHES[algorithm[2:]]
    if algorithm.startswith("HS"):
        expected = hmac.new(key.material, signed, getattr(hashlib, f"sha{algorithm[2:]}"))
        return hmac.compare_digest(expected.digest(), signature)
    public = _public_key(key)
    try:
        if isinstance(public, rsa.RSAPublicKey):
            pad: padding.AsymmetricPadding = (
                padding.PKCS1v15()
                if algorithm.startswith("RS")
                else padding.PSS(mgf=padding.MGF1(digest()), salt_length=digest().digest_size)
            )
            public.verify(signature, signed, pad, digest())
            return True
        assert isinstance(public, ec.EllipticCurvePublicKey)
        size = (public.curve.key_size + 7) // 8
        if len(signature) != 2 * size:
            return False
        r = int.from_bytes(signature[:size], "big")
        s = int.from_bytes(signature[size:], "big")
        public.verify(utils.encode_dss_signature(r, s), signed, ec.ECDSA(digest()))
        return True
    except InvalidSignature:
        return False


def _public_key(key: VerificationKey) -> rsa.RSAPublicKey | ec.EllipticCurvePublicKey:
    try:
        public = serialization.load_pem_public_key(key.material)
    except ValueError as exc:
        raise PolicyLoadError(
            f"the {key.algorithm} verification key is not a PEM public key: {exc}"
        ) from exc
    if key.algorithm[:2] in ("RS", "PS"):
        if not isinstance(public, rsa.RSAPublicKey):
            raise PolicyLoadError(f"{key.algorithm} needs an RSA public key")
        return public
    curve = _CURVES[key.algorithm]
    if not isinstance(public, ec.EllipticCurvePublicKey) or not isinstance(public.curve, curve):
        raise PolicyLoadError(f"{key.algorithm} needs an EC public key on {curve.name}")
    return public
