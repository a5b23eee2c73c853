"""SSH signatures (OpenSSH's SSHSIG format, as `ssh-keygen -Y sign -n git` makes for git)."""

from __future__ import annotations

import base64
import binascii
import hashlib
import struct
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from nacl.bindings import crypto_sign_open
from nacl.exceptions import CryptoError

MAGIC = b"SSHSIG"
GIT_NAMESPACE = "git"
_BEGIN = b"-----BEGIN SSH SIGNATURE-----"
_END = b"-----END SSH SIGNATURE-----"
_MESSAGE_HASHES = {"sha256": hashlib.sha256, "sha512": hashlib.sha512}
_ECDSA_HASHES: dict[str, hashes.HashAlgorithm] = {
    "ecdsa-sha2-nistp256": hashes.SHA256(),
    "ecdsa-sha2-nistp384": hashes.SHA384(),
    "ecdsa-sha2-nistp521": hashes.SHA512(),
}
_RSA_HASHES: dict[str, hashes.HashAlgorithm] = {
    "rsa-sha2-256": hashes.SHA256(),
    "rsa-sha2-512": hashes.SHA512(),
}

PublicKey = ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey


class SshSignatureError(ValueError):
    """The signature is malformed or does not verify."""


@dataclass(frozen=True, slots=True)
class SshSignature:
    """A parsed SSHSIG blob."""

    public_key: bytes
    namespace: str
    hash_algorithm: str
    signature_type: str
    signature: bytes
    reserved: bytes = b""


def _string(data: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 4 > len(data):
        raise SshSignatureError("truncated SSH signature")
    (length,) = struct.unpack_from(">I", data, offset)
    start = offset + 4
    if start + length > len(data):
        raise SshSignatureError("truncated SSH signature")
    return data[start : start + length], start + length


def _pack(*fields: bytes) -> bytes:
    return b"".join(struct.pack(">I", len(f)) + f for f in fields)


def fingerprint(public_key_blob: bytes) -> str:
    """OpenSSH's `SHA256:...` fingerprint of a public key in wire format."""
    digest = hashlib.sha256(public_key_blob).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def public_key_blob(openssh_line: str) -> bytes:
    """The wire-format blob of an `ssh-ed25519 AAAA... comment` line; ValueError if invalid."""
    fields = openssh_line.split()
    if len(fields) < 2:
        raise ValueError("an SSH public key reads 'TYPE BASE64 [COMMENT]'")
    try:
        blob = base64.b64decode(fields[1], validate=True)
        key_type, _ = _string(blob, 0)
    except (binascii.Error, SshSignatureError) as exc:
        raise ValueError(f"the key data of {fields[0]!r} is not valid base64 key data") from exc
    if key_type.decode("ascii", "replace") != fields[0]:
        raise ValueError(f"key type {fields[0]!r} does not match the key data")
    load_public_key(blob)
    return blob


def load_public_key(blob: bytes) -> PublicKey:
    """A cryptography public key from a wire-format blob; ValueError for unsupported types."""
    key_type, _ = _string(blob, 0)
    line = key_type + b" " + base64.b64encode(blob)
    try:
        key = serialization.load_ssh_public_key(line)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise ValueError(f"unsupported SSH key type {key_type.decode('ascii', 'replace')}") from exc
    if not isinstance(key, ed25519.Ed25519PublicKey | ec.EllipticCurvePublicKey | rsa.RSAPublicKey):
        raise ValueError(f"unsupported SSH key type {key_type.decode('ascii', 'replace')}")
    return key


def parse(armored: bytes) -> SshSignature:
    """Parse an armored SSHSIG block."""
    text = armored.strip()
    if not (text.startswith(_BEGIN) and text.endswith(_END)):
        raise SshSignatureError("not an armored SSH signature")
    body = b"".join(text[len(_BEGIN) : -len(_END)].split())
    try:
        blob = binascii.a2b_base64(body, strict_mode=True)  # b64decode(validate=True)
    except binascii.Error as exc:
        raise SshSignatureError("SSH signature armor is not base64") from exc
    if not blob.startswith(MAGIC) or len(blob) < len(MAGIC) + 4:
        raise SshSignatureError("SSH signature lacks the SSHSIG preamble")
    (version,) = struct.unpack_from(">I", blob, len(MAGIC))
    if version != 1:
        raise SshSignatureError(f"SSH signature version {version} is not supported")
    offset = len(MAGIC) + 4
    public_key, offset = _string(blob, offset)
    namespace, offset = _string(blob, offset)
    reserved, offset = _string(blob, offset)
    hash_algorithm, offset = _string(blob, offset)
    inner, offset = _string(blob, offset)
    signature_type, inner_offset = _string(inner, 0)
    signature, _ = _string(inner, inner_offset)
    return SshSignature(
        public_key=public_key,
        namespace=namespace.decode("utf-8", "replace"),
        hash_algorithm=hash_algorithm.decode("ascii", "replace"),
        signature_type=signature_type.decode("ascii", "replace"),
        signature=signature,
        reserved=reserved,
    )


def signed_data(message: bytes, *, namespace: str, hash_algorithm: str, reserved: bytes) -> bytes:
    """The bytes an SSHSIG signature is made over (PROTOCOL.sshsig)."""
    digest = _MESSAGE_HASHES[hash_algorithm](message).digest()
    return MAGIC + _pack(namespace.encode(), reserved, hash_algorithm.encode(), digest)


def verify(sig: SshSignature, key: PublicKey, message: bytes, *, namespace: str) -> None:
    """Raise SshSignatureError unless `sig` is `key`'s signature over `message` in `namespace`."""
    if sig.namespace != namespace:
        raise SshSignatureError(f"signature namespace {sig.namespace!r}, expected {namespace!r}")
    if sig.hash_algorithm not in _MESSAGE_HASHES:
        raise SshSignatureError(f"unsupported SSH signature hash {sig.hash_algorithm!r}")
    data = signed_data(
        message, namespace=namespace, hash_algorithm=sig.hash_algorithm, reserved=sig.reserved
    )
    try:
        if isinstance(key, ed25519.Ed25519PublicKey) and sig.signature_type == "ssh-ed25519":
            _verify_ed25519(key, sig.signature, data)
        elif isinstance(key, ec.EllipticCurvePublicKey) and sig.signature_type in _ECDSA_HASHES:
            r, offset = _string(sig.signature, 0)
            s, _ = _string(sig.signature, offset)
            der = encode_dss_signature(int.from_bytes(r, "big"), int.from_bytes(s, "big"))
            key.verify(der, data, ec.ECDSA(_ECDSA_HASHES[sig.signature_type]))
        elif isinstance(key, rsa.RSAPublicKey) and sig.signature_type in _RSA_HASHES:
            key.verify(sig.signature, data, padding.PKCS1v15(), _RSA_HASHES[sig.signature_type])
        else:
            raise SshSignatureError(
                f"signature type {sig.signature_type!r} does not fit the key's type"
            )
    except InvalidSignature as exc:
        raise SshSignatureError("SSH signature does not verify") from exc


def _verify_ed25519(key: ed25519.Ed25519PublicKey, signature: bytes, data: bytes) -> None:
    """Raise InvalidSignature unless `signature` is `key`'s Ed25519 signature over `data`.

    libsodium checks in about half the time OpenSSL takes, and is at least as strict: it also
    refuses non-canonical encodings and points of small order (RFC 8032 allows either).
    """
    if len(signature) != 64:
        raise InvalidSignature
    try:
        crypto_sign_open(signature + data, key.public_bytes_raw())
    except (CryptoError, ValueError) as exc:
        raise InvalidSignature from exc


def sign(private_key: ed25519.Ed25519PrivateKey, message: bytes, *, namespace: str) -> bytes:
    """An armored SSHSIG signature by an Ed25519 key, byte-compatible with ssh-keygen's."""
    public = private_key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    blob = base64.b64decode(public.split()[1])
    data = signed_data(message, namespace=namespace, hash_algorithm="sha512", reserved=b"")
    inner = _pack(b"ssh-ed25519", private_key.sign(data))
    raw = MAGIC + struct.pack(">I", 1) + _pack(blob, namespace.encode(), b"", b"sha512", inner)
    encoded = base64.b64encode(raw)
    lines = [encoded[i : i + 70] for i in range(0, len(encoded), 70)]
    return b"\n".join([_BEGIN, *lines, _END]) + b"\n"
