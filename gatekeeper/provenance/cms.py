"""CMS (RFC 5652) detached signatures, as gpgsm and gitsign write them for git's `x509` format.

`parse` takes the armored SignedData apart; `check_content` proves that it signs the given
bytes: the message-digest attribute is the payload's digest, and the signer's certificate key
signed the DER of the signed attributes. Who the certificate belongs to, and whether it is
trusted, is for the caller (x509trust) to decide.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa

from gatekeeper.provenance import der

_BEGIN = b"-----BEGIN SIGNED MESSAGE-----"
_END = b"-----END SIGNED MESSAGE-----"
SIGNED_DATA = "1.2.840.113549.1.7.2"
DATA = "1.2.840.113549.1.7.1"
CONTENT_TYPE = "1.2.840.113549.1.9.3"
MESSAGE_DIGEST = "1.2.840.113549.1.9.4"
SIGNING_TIME = "1.2.840.113549.1.9.5"

# SHA-1 is refused: a commit signature must not rest on a broken digest.
_DIGESTS: dict[str, tuple[str, hashes.HashAlgorithm]] = {
    "2.16.840.1.101.3.4.2.1": ("sha256", hashes.SHA256()),
    "2.16.840.1.101.3.4.2.2": ("sha384", hashes.SHA384()),
    "2.16.840.1.101.3.4.2.3": ("sha512", hashes.SHA512()),
}
_RSA = {
    "1.2.840.113549.1.1.1",  # rsaEncryption: the digest algorithm names the hash
    "1.2.840.113549.1.1.11",
    "1.2.840.113549.1.1.12",
    "1.2.840.113549.1.1.13",
}
_ECDSA = {
    "1.2.840.10045.2.1",  # id-ecPublicKey, as some signers write it
    "1.2.840.10045.4.3.2",
    "1.2.840.10045.4.3.3",
    "1.2.840.10045.4.3.4",
}
_ED25519 = "1.3.101.112"


class CmsError(ValueError):
    """The signature is malformed, or does not sign the content."""


@dataclass(frozen=True, slots=True)
class SignedMessage:
    """A parsed detached CMS signature with one signer."""

    certificates: tuple[x509.Certificate, ...]
    signer: x509.Certificate
    digest_oid: str
    signed_attributes: bytes  # re-tagged as a SET OF: the exact bytes that were signed
    signature_oid: str
    signature: bytes
    message_digest: bytes
    signing_time: datetime | None
    unsigned_attributes: tuple[str, ...]

    @property
    def intermediates(self) -> list[x509.Certificate]:
        """The other certificates the signature carries (candidates for the chain)."""
        return [c for c in self.certificates if c is not self.signer]


@lru_cache(maxsize=4096)
def _certificate(encoded: bytes) -> x509.Certificate:
    return x509.load_der_x509_certificate(encoded)


def unarmor(armored: bytes) -> bytes:
    """The DER inside `-----BEGIN SIGNED MESSAGE-----` armor."""
    text = armored.strip()
    if not text.startswith(_BEGIN) or not text.endswith(_END):
        raise CmsError("not an armored CMS signature")
    body = text[len(_BEGIN) : -len(_END)]
    try:
        return base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CmsError("the signature's base64 is malformed") from exc


_KNOWN_ATTRIBUTES = {der.encode_oid(o): o for o in (CONTENT_TYPE, MESSAGE_DIGEST, SIGNING_TIME)}


def _attributes(node: der.Node) -> dict[str, list[der.Node]]:
    """The attributes this module reads, by OID; the others (by OID) with no values."""
    found: dict[str, list[der.Node]] = {}
    for attribute in node.children():
        kind, values = attribute.expect(der.SEQUENCE, "attribute").children()
        known = _KNOWN_ATTRIBUTES.get(kind.expect(der.OID, "attribute type").content)
        name = known or der.oid(kind)
        if name in found:
            raise CmsError(f"attribute {name} appears twice")
        found[name] = values.expect(der.SET, "attribute values").children() if known else []
    return found


def _single(attributes: dict[str, list[der.Node]], name: str, what: str) -> der.Node:
    values = attributes.get(name)
    if not values or len(values) != 1:
        raise CmsError(f"the signed attributes need exactly one {what}")
    return values[0]


def _find_signer(sid: der.Node, certificates: list[x509.Certificate]) -> x509.Certificate:
    if sid.tag == der.SEQUENCE:
        issuer, serial = sid.children()
        number = der.integer(serial)
        for cert in certificates:
            if cert.serial_number == number and cert.issuer.public_bytes() == issuer.raw:
                return cert
    elif sid.tag == 0x80:  # [0] IMPLICIT SubjectKeyIdentifier
        for cert in certificates:
            try:
                ski = cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
            except x509.ExtensionNotFound:
                continue
            if ski.value.digest == sid.content:
                return cert
    raise CmsError("the signature does not carry its signer's certificate")


def parse(armored: bytes) -> SignedMessage:
    """Take an armored detached SignedData apart; CmsError when it is not one."""
    try:
        return _parse(unarmor(armored))
    except der.DerError as exc:
        raise CmsError(f"malformed CMS signature: {exc}") from exc
    except CmsError:
        raise
    except (ValueError, IndexError) as exc:
        raise CmsError(f"malformed CMS signature: {exc}") from exc


def _parse(encoded: bytes) -> SignedMessage:
    info = der.read_one(encoded).expect(der.SEQUENCE, "ContentInfo").children()
    if len(info) != 2 or not der.is_oid(info[0], SIGNED_DATA):
        raise CmsError("not a CMS SignedData")
    (signed_data,) = info[1].expect(0xA0, "content").children()
    fields = signed_data.expect(der.SEQUENCE, "SignedData").children()
    if len(fields) < 4:
        raise CmsError("SignedData is incomplete")
    encapsulated = fields[2].expect(der.SEQUENCE, "encapContentInfo").children()
    if not der.is_oid(encapsulated[0], DATA):
        raise CmsError("the signed content type is not data")
    if len(encapsulated) > 1:
        raise CmsError("the signature embeds its content; git signatures are detached")
    certificates: list[x509.Certificate] = []
    signer_infos: der.Node | None = None
    for node in fields[3:]:
        if node.tag == 0xA0:
            for choice in node.children():
                if choice.tag == der.SEQUENCE:  # other certificate formats are not used
                    certificates.append(_certificate(choice.raw))
        elif node.tag == der.SET:
            signer_infos = node
    if signer_infos is None:
        raise CmsError("SignedData has no signer")
    infos = signer_infos.children()
    if len(infos) != 1:
        raise CmsError(f"expected one signer, found {len(infos)}")
    parts = infos[0].expect(der.SEQUENCE, "SignerInfo").children()
    if len(parts) < 5:
        raise CmsError("SignerInfo is incomplete")
    signer = _find_signer(parts[1], certificates)
    digest_oid = der.oid(parts[2].expect(der.SEQUENCE, "digestAlgorithm").children()[0])
    signed = parts[3]
    if signed.tag != 0xA0:
        raise CmsError("the signature has no signed attributes")
    if signed.indefinite:
        raise CmsError("signed attributes must be DER-encoded")
    attributes = _attributes(signed)
    if not der.is_oid(_single(attributes, CONTENT_TYPE, "content type"), DATA):
        raise CmsError("the signed content type attribute is not data")
    digest = der.octets(_single(attributes, MESSAGE_DIGEST, "message digest"))
    signing_time = None
    if SIGNING_TIME in attributes:
        signing_time = der.time(_single(attributes, SIGNING_TIME, "signing time"))
    signature_oid = der.oid(parts[4].expect(der.SEQUENCE, "signatureAlgorithm").children()[0])
    signature = der.octets(parts[5]) if len(parts) > 5 else b""
    unsigned: tuple[str, ...] = ()
    if len(parts) > 6 and parts[6].tag == 0xA1:
        unsigned = tuple(_attributes(parts[6]))
    return SignedMessage(
        certificates=tuple(certificates),
        signer=signer,
        digest_oid=digest_oid,
        signed_attributes=b"\x31" + signed.raw[1:],
        signature_oid=signature_oid,
        signature=signature,
        message_digest=digest,
        signing_time=signing_time,
        unsigned_attributes=unsigned,
    )


def check_content(message: SignedMessage, payload: bytes) -> None:
    """Raise CmsError unless `message` is a signature over `payload` by its signer's key."""
    known = _DIGESTS.get(message.digest_oid)
    if known is None:
        raise CmsError(f"unsupported digest algorithm {message.digest_oid}")
    name, algorithm = known
    if hashlib.new(name, payload).digest() != message.message_digest:
        raise CmsError("signature does not match the content")
    key = message.signer.public_key()
    data = message.signed_attributes
    try:
        if isinstance(key, rsa.RSAPublicKey) and message.signature_oid in _RSA:
            key.verify(message.signature, data, padding.PKCS1v15(), algorithm)
        elif isinstance(key, ec.EllipticCurvePublicKey) and message.signature_oid in _ECDSA:
            key.verify(message.signature, data, ec.ECDSA(algorithm))
        elif isinstance(key, ed25519.Ed25519PublicKey) and message.signature_oid == _ED25519:
            key.verify(message.signature, data)
        else:
            raise CmsError(f"unsupported signature algorithm {message.signature_oid}")
    except InvalidSignature as exc:
        raise CmsError("signature does not match the content") from exc
    except UnsupportedAlgorithm as exc:
        raise CmsError(f"unsupported signature algorithm {message.signature_oid}") from exc
