"""Bundle signatures made by OPA itself (its `io.jwt.encode_sign`, the JWS code `opa sign`
uses) verify here, and a file OPA's signature does not cover is refused."""

from __future__ import annotations

import json
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from gatekeeper.policy.bundle import BundleError, read_bundle
from gatekeeper.policy.engine import RegoModule
from gatekeeper.policy.jws import VerificationKey
from tests.unit.policy.bundles import b64, basic_files, digest, public_pem, rsa_key, tar_gz

opa_embedded = pytest.importorskip("gatekeeper.policy.engines.opa_embedded")
if not opa_embedded.available():
    pytest.skip("the embedded OPA engine is not installed", allow_module_level=True)

SIGNER = RegoModule(
    path="signer.rego",
    source="package signer\n\nimport rego.v1\n\n"
    'token := io.jwt.encode_sign({"alg": input.alg}, input.payload, input.jwk)\n',
)


def _int(value: int) -> str:
    return b64(value.to_bytes((value.bit_length() + 7) // 8, "big"))


def _jwk(key: Any, alg: str) -> dict[str, str]:
    if alg.startswith("HS"):
        return {"kty": "oct", "k": b64(key)}
    numbers = key.private_numbers()
    if isinstance(key, rsa.RSAPrivateKey):
        public = numbers.public_numbers
        return {
            "kty": "RSA", "n": _int(public.n), "e": _int(public.e), "d": _int(numbers.d),
            "p": _int(numbers.p), "q": _int(numbers.q), "dp": _int(numbers.dmp1),
            "dq": _int(numbers.dmq1), "qi": _int(numbers.iqmp),
        }  # fmt: skip
    public = numbers.public_numbers
    size = 32
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64(public.x.to_bytes(size, "big")),
        "y": b64(public.y.to_bytes(size, "big")),
        "d": b64(numbers.private_value.to_bytes(size, "big")),
    }


def _opa_signatures(files: dict[str, bytes], key: Any, alg: str) -> bytes:
    engine = opa_embedded.OpaEmbeddedEngine()
    engine.load([SIGNER], {})
    entries = [
        {"name": name, "hash": digest(name, content), "algorithm": "SHA-256"}
        for name, content in sorted(files.items())
    ]
    token = engine.query(
        "data.signer.token", {"alg": alg, "payload": {"files": entries}, "jwk": _jwk(key, alg)}
    )
    return json.dumps({"signatures": [token]}).encode()


@pytest.mark.parametrize("alg", ["RS256", "ES256", "HS256"])
def test_a_signature_opa_made_verifies(alg: str) -> None:
    if alg == "HS256":
        signing: Any = b"a secret shared with the bundle's builder"
        material = signing
    elif alg == "ES256":
        signing = ec.generate_private_key(ec.SECP256R1())
        material = public_pem(signing)
    else:
        signing = rsa_key()
        material = public_pem(signing)
    files = basic_files()
    archive = tar_gz({**files, ".signatures.json": _opa_signatures(files, signing, alg)})
    key = VerificationKey(algorithm=alg, material=material)  # type: ignore[arg-type]
    assert read_bundle(archive, label="b", key=key).signed
    changed = {**files, "authz/images.rego": files["authz/images.rego"] + b"\n# more\n"}
    tampered = tar_gz({**changed, ".signatures.json": _opa_signatures(files, signing, alg)})
    with pytest.raises(BundleError, match="digest mismatch"):
        read_bundle(tampered, label="b", key=key)
