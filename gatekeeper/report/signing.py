"""Detached signatures of rendered reports and manifests, with the audit signing key.

A signature file (`report.pdf.sig`) is JSON: a `statement` naming the SHA-256 and size of the
signed file's exact bytes, the key id and the time, and `signature`, the Ed25519 signature
(base64) over the statement's canonical JSON. Nothing else is needed to check it: the public
key, and either `verify_file` here or sha256sum, jq and openssl (docs/evidence.md).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from gatekeeper.audit import chain
from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.canonical import canonical_json
from gatekeeper.report.errors import SignatureInvalid

SIGNATURE_TYPE = "gatekeeper.report.signature/v1"
_HEX64 = re.compile(r"^[0-9a-f]{64}$")
_READ = 1 << 20


@dataclass(frozen=True)
class ReportSignature:
    """A signed statement about one file's bytes."""

    sha256: str
    size: int
    key_id: str
    signed_at: str
    signature: str

    def statement(self) -> dict[str, Any]:
        return {
            "type": SIGNATURE_TYPE,
            "sha256": self.sha256,
            "size": self.size,
            "key_id": self.key_id,
            "signed_at": self.signed_at,
        }

    def message(self) -> bytes:
        """The exact bytes the signature signs: the statement's canonical JSON."""
        return canonical_json(self.statement())

    def to_bytes(self) -> bytes:
        document = {"statement": self.statement(), "signature": self.signature}
        return (json.dumps(document, indent=2) + "\n").encode("ascii")

    @classmethod
    def from_bytes(cls, data: bytes) -> ReportSignature:
        """Parse a signature file; `SignatureInvalid` for anything else."""
        try:
            document = json.loads(data)
            statement = document["statement"]
            parsed = cls(
                sha256=statement["sha256"],
                size=statement["size"],
                key_id=statement["key_id"],
                signed_at=statement["signed_at"],
                signature=document["signature"],
            )
        except (ValueError, KeyError, TypeError) as exc:
            raise SignatureInvalid(f"not a report signature file: {exc}") from exc
        if statement.get("type") != SIGNATURE_TYPE or set(statement) != set(parsed.statement()):
            raise SignatureInvalid(f"not a {SIGNATURE_TYPE} statement")
        if not (
            isinstance(parsed.sha256, str)
            and _HEX64.match(parsed.sha256)
            and type(parsed.size) is int
            and isinstance(parsed.key_id, str)
            and isinstance(parsed.signed_at, str)
            and isinstance(parsed.signature, str)
        ):
            raise SignatureInvalid("the signature statement has fields of the wrong type")
        return parsed


class DigestWriter:
    """A binary writer that passes bytes on to `out` and keeps their SHA-256 and size, so a
    streamed rendering can be signed without reading it back."""

    def __init__(self, out: IO[bytes]) -> None:
        self._out = out
        self._digest = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self._digest.update(data)
        self.size += len(data)
        return self._out.write(data)

    def flush(self) -> None:
        self._out.flush()

    @property
    def sha256(self) -> str:
        return self._digest.hexdigest()


def sign_digest(
    sha256: str, size: int, signer: Signer, *, now: datetime | None = None
) -> ReportSignature:
    """Sign the statement that a file of `size` bytes has this SHA-256."""
    unsigned = ReportSignature(
        sha256=sha256,
        size=size,
        key_id=signer.key_id,
        signed_at=chain.format_time(now or datetime.now(UTC)),
        signature="",
    )
    return ReportSignature(
        sha256=unsigned.sha256,
        size=unsigned.size,
        key_id=unsigned.key_id,
        signed_at=unsigned.signed_at,
        signature=signer.sign(unsigned.message()),
    )


def sign_bytes(data: bytes, signer: Signer, *, now: datetime | None = None) -> ReportSignature:
    return sign_digest(hashlib.sha256(data).hexdigest(), len(data), signer, now=now)


def sign_file(path: Path, signer: Signer, *, now: datetime | None = None) -> ReportSignature:
    """Sign `path` and write the signature beside it, as `signature_path(path)`."""
    sha256, size = file_digest(path)
    signature = sign_digest(sha256, size, signer, now=now)
    signature_path(path).write_bytes(signature.to_bytes())
    return signature


def verify_bytes(data: bytes, signature: ReportSignature, *, key: Verifier) -> None:
    """Raise `SignatureInvalid` unless `signature` is `key`'s and states exactly `data`."""
    _check(hashlib.sha256(data).hexdigest(), len(data), signature, key)


def verify_file(
    path: Path, *, key: Verifier, signature_file: Path | None = None
) -> ReportSignature:
    """Check `path` against its signature (by default `path` + `.sig`) and `key`; no network,
    no database. Returns the verified statement; raises `SignatureInvalid` otherwise."""
    sig_path = signature_file or signature_path(path)
    try:
        signature = ReportSignature.from_bytes(sig_path.read_bytes())
    except OSError as exc:
        raise SignatureInvalid(f"cannot read the signature {sig_path}: {exc.strerror}") from exc
    sha256, size = file_digest(path)
    _check(sha256, size, signature, key)
    return signature


def signature_path(path: Path) -> Path:
    return path.with_name(path.name + ".sig")


def file_digest(path: Path) -> tuple[str, int]:
    digest, size = hashlib.sha256(), 0
    with path.open("rb") as handle:
        while chunk := handle.read(_READ):
            digest.update(chunk)
            size += len(chunk)
    return digest.hexdigest(), size


def _check(sha256: str, size: int, signature: ReportSignature, key: Verifier) -> None:
    if signature.key_id != key.key_id:
        raise SignatureInvalid(
            f"signed by key {signature.key_id}, not by the trusted key {key.key_id}"
        )
    if not key.is_valid(signature.message(), signature.signature):
        raise SignatureInvalid(f"the signature by {signature.key_id} does not verify")
    if signature.sha256 != sha256 or signature.size != size:
        raise SignatureInvalid(
            f"the file changed after it was signed: SHA-256 {sha256[:16]}... and {size} "
            f"bytes, signed {signature.sha256[:16]}... and {signature.size} bytes"
        )
