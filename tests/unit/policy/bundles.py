"""Builds OPA bundles as `opa build` lays them out, and signs them as `opa sign` does.

The signer is written apart from `gatekeeper.policy.bundle`: it hashes JSON files through
the standard library's own sorted, compact encoding, and signs with `cryptography`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import json
import tarfile
from collections.abc import Mapping
from typing import Any

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def digest(name: str, content: bytes) -> str:
    if name.rsplit("/", 1)[-1] in (".manifest", "data.json"):
        value = json.loads(content)
        content = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        content = content.encode()  # type: ignore[assignment]
    return hashlib.sha256(content).hexdigest()


def jwt(payload: Mapping[str, Any], key: Any, alg: str = "RS256") -> str:
    header = b64(json.dumps({"alg": alg}).encode())
    body = b64(json.dumps(payload).encode())
    signed = f"{header}.{body}".encode()
    if alg == "HS256":
        signature = hmac.new(key, signed, hashlib.sha256).digest()
    elif alg == "RS256":
        signature = key.sign(signed, padding.PKCS1v15(), hashes.SHA256())
    elif alg == "PS256":
        pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
        signature = key.sign(signed, pss, hashes.SHA256())
    else:
        r, s = utils.decode_dss_signature(key.sign(signed, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return f"{header}.{body}.{b64(signature)}"


def signatures(
    files: Mapping[str, bytes],
    key: Any,
    *,
    alg: str = "RS256",
    listed: Mapping[str, bytes] | None = None,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    """`.signatures.json` for `files` (or for `listed`, to sign something else)."""
    entries = [
        {"name": name, "hash": digest(name, content), "algorithm": "SHA-256"}
        for name, content in sorted((listed if listed is not None else files).items())
    ]
    token = jwt({"files": entries, **(extra or {})}, key, alg)
    return json.dumps({"signatures": [token]}).encode()


def tar_gz(files: Mapping[str, bytes], *, prefix: str = "/") -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, content in files.items():
            info = tarfile.TarInfo(prefix + name if not name.startswith("/") else name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def public_pem(key: Any) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


POLICY = b"""package authz.images

import rego.v1

deny contains msg if {
\tsome c in input.review.object.spec.containers
\tnot startswith(c.image, data.authz.registry)
\tmsg := sprintf("%s: image from elsewhere", [c.name])
}
"""


def basic_files(revision: str = "r1") -> dict[str, bytes]:
    manifest = {"revision": revision, "roots": ["authz"]}
    return {
        ".manifest": json.dumps(manifest, indent=2).encode(),
        "authz/images.rego": POLICY,
        "authz/data.json": json.dumps({"registry": "registry.example.com/"}, indent=1).encode(),
    }
