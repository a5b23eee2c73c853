"""OpenPGP signatures on commits and tags, verified in-process with Sequoia (pysequoia)."""

from __future__ import annotations

import binascii
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

# Sequoia builds error values internally even while a good signature verifies (five or so
# per signature); with RUST_BACKTRACE=1 in the environment each one captures a backtrace,
# which costs more than the verification itself. Nothing here ever shows those backtraces,
# so library backtraces are off unless RUST_LIB_BACKTRACE says otherwise. Rust reads the
# setting once, at its first capture: it must be set before Sequoia runs.
os.environ.setdefault("RUST_LIB_BACKTRACE", "0")

import pysequoia
from pysequoia.packet import PacketPile, SignatureType, Tag

from gatekeeper.provenance.verdicts import Reason, SignatureFormat, SignatureVerdict

_ARMOR_BEGIN = b"-----BEGIN PGP SIGNATURE-----"
_ARMOR_END = b"-----END PGP SIGNATURE-----"
_ARMOR_HEADER = re.compile(rb"[A-Za-z][A-Za-z0-9-]*: [^\r\n]*")


def dearmor_signature(armored: bytes) -> bytes | None:
    """The packets of an armored signature written the usual way, or None for any other text.

    Sequoia reads the armor itself when given None's text, at several times the cost of
    this for the shape gpg and Sequoia write: the BEGIN line, `Key: value` headers, an
    empty line, base64 lines, the checksum line (which Sequoia does not check either) and
    the END line. Decoded data that does not start as an OpenPGP packet is left to Sequoia.
    """
    lines = armored.split(b"\n")
    while lines and not lines[-1]:
        lines.pop()
    if len(lines) < 3 or lines[0] != _ARMOR_BEGIN or lines[-1] != _ARMOR_END:
        return None
    try:
        blank = lines.index(b"", 1)
    except ValueError:
        return None
    if not all(_ARMOR_HEADER.fullmatch(line) for line in lines[1:blank]):
        return None
    body = lines[blank + 1 : -1]
    if body and len(body[-1]) == 5 and body[-1].startswith(b"="):
        body.pop()
    try:
        packets = binascii.a2b_base64(b"".join(body), strict_mode=True)
    except binascii.Error:
        return None
    return packets if packets and packets[0] & 0x80 else None


def _first_packet_size(data: bytes) -> int | None:
    """The length in bytes of the first OpenPGP packet of `data` (RFC 9580 section 4.2), or
    None when its header is cut short or has no definite length (never so for a signature)."""
    first = data[0]
    if first & 0x40:  # the current header format
        if len(data) < 2:
            return None
        octet = data[1]
        if octet < 192:
            return 2 + octet
        if octet < 224:
            return None if len(data) < 3 else 3 + ((octet - 192) << 8) + data[2] + 192
        if octet == 255:
            return None if len(data) < 6 else 6 + int.from_bytes(data[2:6], "big")
        return None  # a partial length: data packets only
    width = {0: 1, 1: 2, 2: 4}.get(first & 0x03)  # the legacy format's length field
    if width is None or len(data) < 1 + width:
        return None
    return 1 + width + int.from_bytes(data[1 : 1 + width], "big")


def _signature_count(packets: bytes | None, signature: bytes) -> int:
    """How many packets the signature holds: git's signature header carries exactly one."""
    if packets is not None and _first_packet_size(packets) == len(packets):
        return 1
    if signature.count(_ARMOR_BEGIN) > 1:
        return 2
    try:
        return len(PacketPile.from_bytes(packets or signature))
    except (RuntimeError, ValueError):
        return 0


@dataclass(frozen=True, slots=True)
class SigningKey:
    """One (sub)key of a trusted certificate, with when it may sign."""

    signer: str
    fingerprint: str
    cert: pysequoia.Cert
    created: datetime
    expires: datetime | None
    revoked: bool

    def problem_at(self, when: datetime) -> tuple[Reason, str] | None:
        """Why this key could not sign at `when`, or None when it could."""
        if self.revoked:
            return Reason.REVOKED_KEY, f"key {self.fingerprint.upper()} is revoked"
        if when < self.created:
            return (
                Reason.EXPIRED_KEY,
                f"key {self.fingerprint.upper()} is not valid yet at {when.isoformat()}"
                f" (created {self.created.isoformat()})",
            )
        if self.expires is not None and when >= self.expires:
            return (
                Reason.EXPIRED_KEY,
                f"key {self.fingerprint.upper()} expired {self.expires.isoformat()},"
                f" before {when.isoformat()}",
            )
        return None


def parse_certs(armored: str) -> list[pysequoia.Cert]:
    """Every certificate in an ASCII-armored block; ValueError when there is none or it is bad."""
    if "PRIVATE KEY BLOCK" in armored:
        raise ValueError("the key block holds secret key material; give public keys only")
    try:
        certs = pysequoia.Cert.split_bytes(armored.encode())
    except (RuntimeError, ValueError) as exc:
        raise ValueError("not a valid OpenPGP public key block") from exc
    if not certs:
        raise ValueError("no OpenPGP certificate found in the key block")
    return certs


def _min_time(first: datetime | None, second: datetime | None) -> datetime | None:
    if first is None:
        return second
    if second is None:
        return first
    return min(first, second)


def signing_keys(signer: str, cert: pysequoia.Cert) -> list[SigningKey]:
    """The primary key and every subkey of `cert`, with their lifetimes from the self-signatures."""
    revoked = cert.is_revoked
    cert_expires = cert.expiration
    keys: list[SigningKey] = []
    # Walk the packets: a subkey's binding and revocation signatures follow its key packet.
    subkey: tuple[str, datetime] | None = None
    latest_binding: datetime | None = None
    sub_expires: datetime | None = None
    sub_revoked = False

    def flush() -> None:
        if subkey is not None:
            fpr, created = subkey
            keys.append(
                SigningKey(
                    signer=signer,
                    fingerprint=fpr,
                    cert=cert,
                    created=created,
                    expires=_min_time(sub_expires, cert_expires),
                    revoked=revoked or sub_revoked,
                )
            )

    for packet in PacketPile.from_bytes(bytes(cert)):
        tag = packet.tag
        if tag == Tag.PublicKey:
            created = packet.key_created
            fpr = packet.fingerprint
            if created is not None and fpr is not None:
                keys.append(SigningKey(signer, fpr, cert, created, cert_expires, revoked))
        elif tag == Tag.PublicSubkey:
            flush()
            fpr, created = packet.fingerprint, packet.key_created
            subkey = (fpr, created) if fpr is not None and created is not None else None
            latest_binding, sub_expires, sub_revoked = None, None, False
        elif tag == Tag.Signature and subkey is not None:
            kind = packet.signature_type
            made = packet.signature_created
            if kind == SignatureType.SubkeyRevocation:
                sub_revoked = True
            elif (
                kind == SignatureType.SubkeyBinding
                and made is not None
                and (latest_binding is None or made > latest_binding)
            ):
                latest_binding = made
                period = packet.key_validity_period
                sub_expires = None if period is None else subkey[1] + period
    flush()
    return keys


class OpenPgpVerifier:
    """Verifies detached OpenPGP signatures against the trusted certificates."""

    def __init__(self, keys: Iterable[SigningKey]) -> None:
        self._by_fingerprint: dict[str, SigningKey] = {}
        self._by_key_id: dict[str, SigningKey] = {}
        for key in keys:
            self._by_fingerprint[key.fingerprint.lower()] = key
            self._by_key_id[key.fingerprint.lower()[-16:]] = key

    def verify(self, payload: bytes, signature: bytes, *, at: datetime) -> SignatureVerdict:
        """Check `signature` over `payload` as made at `at` (the commit or tag time)."""
        fmt = SignatureFormat.OPENPGP
        packets = dearmor_signature(signature)
        try:
            sig = pysequoia.Sig.from_bytes(packets or signature)
        except (RuntimeError, ValueError):
            return SignatureVerdict(Reason.BAD_SIGNATURE, fmt, None, None, "malformed signature")
        if _signature_count(packets, signature) != 1:
            # Sequoia would read the first and ignore the rest; git refuses such a header.
            return SignatureVerdict(
                Reason.BAD_SIGNATURE, fmt, None, None, "more than one signature in one header"
            )
        issuer = sig.issuer_fingerprint or sig.issuer_key_id
        key_id = issuer.upper() if issuer else None
        key = None
        if sig.issuer_fingerprint:
            key = self._by_fingerprint.get(sig.issuer_fingerprint.lower())
        if key is None and sig.issuer_key_id:
            key = self._by_key_id.get(sig.issuer_key_id.lower())
        if key is None:
            return SignatureVerdict(
                Reason.UNKNOWN_KEY, fmt, None, key_id, f"no trusted key {key_id or '(no issuer)'}"
            )
        key_id = key.fingerprint.upper()
        made = sig.created
        for when in (at, made) if made is not None else (at,):
            problem = key.problem_at(when)
            if problem is not None:
                return SignatureVerdict(problem[0], fmt, key.signer, key_id, problem[1])
        cert = key.cert
        try:
            result = pysequoia.verify(bytes=payload, store=lambda _ids: [cert], signature=sig)
        except (RuntimeError, ValueError):
            return SignatureVerdict(
                Reason.BAD_SIGNATURE,
                fmt,
                key.signer,
                key_id,
                "signature does not match the content",
            )
        if not result.valid_sigs:
            return SignatureVerdict(
                Reason.BAD_SIGNATURE,
                fmt,
                key.signer,
                key_id,
                "signature does not match the content",
            )
        return SignatureVerdict(Reason.TRUSTED, fmt, key.signer, key_id)
