"""Raw Git commit and tag objects split into the signed payload and the signature."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from gatekeeper.provenance.verdicts import SignatureFormat

# git's own markers (gpg-interface.c): the first line of an armored signature says its format.
_MARKERS: tuple[tuple[bytes, SignatureFormat], ...] = (
    (b"-----BEGIN PGP SIGNATURE-----", SignatureFormat.OPENPGP),
    (b"-----BEGIN PGP MESSAGE-----", SignatureFormat.OPENPGP),
    (b"-----BEGIN SSH SIGNATURE-----", SignatureFormat.SSH),
    (b"-----BEGIN SIGNED MESSAGE-----", SignatureFormat.X509),
)
_SIGNATURE_HEADERS = (b"gpgsig", b"gpgsig-sha256")
_IDENT_TIME = re.compile(rb"^(?P<ident>.*) (?P<seconds>-?\d+) (?P<tz>[+-]\d{4})$")


class ObjectFormatError(ValueError):
    """The bytes are not a commit or tag object git would have written."""


def signature_format(signature: bytes) -> SignatureFormat | None:
    """The format of an armored signature, or None when git would not recognise it."""
    start = signature.lstrip()
    for marker, fmt in _MARKERS:
        if start.startswith(marker):
            return fmt
    return None


@dataclass(frozen=True, slots=True)
class SignedObject:
    """A commit or tag: the exact bytes that were signed, the signature, and who/when."""

    sha: str
    kind: str
    payload: bytes
    signature: bytes | None
    parents: tuple[str, ...]
    target: str | None
    identity: str
    time: datetime
    author: str | None = None  # a commit's author, `Name <email>`; None for a tag

    @property
    def format(self) -> SignatureFormat | None:
        return None if self.signature is None else signature_format(self.signature)


def _parse_ident_time(line: bytes) -> tuple[str, datetime]:
    match = _IDENT_TIME.match(line)
    if match is None:
        raise ObjectFormatError(f"malformed identity line: {line[:80]!r}")
    seconds = int(match.group("seconds"))
    return match.group("ident").decode("utf-8", "replace"), datetime.fromtimestamp(seconds, UTC)


def parse_commit(sha: str, raw: bytes) -> SignedObject:
    """Split a raw commit into payload and signature the way `git verify-commit` does."""
    head, sep, body = raw.partition(b"\n\n")
    if not sep:
        raise ObjectFormatError(f"commit {sha} has no blank line after its headers")
    kept: list[bytes] = []
    signature: list[bytes] = []
    parents: list[str] = []
    committer: bytes | None = None
    author: bytes | None = None
    # Where continuation lines (leading space) of the current header go.
    into: list[bytes] | None = kept
    for line in head.split(b"\n"):
        if line.startswith(b" "):
            if into is kept:
                kept.append(line)
            elif into is signature:
                signature.append(line[1:])
            continue
        name, _, value = line.partition(b" ")
        if name in _SIGNATURE_HEADERS:
            # SHA-1 repositories sign with `gpgsig`; a `gpgsig-sha256` header is for the other
            # object format and is neither payload nor this repository's signature.
            into = signature if name == b"gpgsig" else None
            if into is signature:
                signature.append(value)
            continue
        into = kept
        kept.append(line)
        if name == b"parent":
            parents.append(value.decode("ascii"))
        elif name == b"committer":
            committer = value
        elif name == b"author":
            author = value
    if committer is None:
        raise ObjectFormatError(f"commit {sha} has no committer")
    identity, time = _parse_ident_time(committer)
    written_by = _parse_ident_time(author)[0] if author is not None else None
    payload = b"\n".join(kept) + sep + body
    sig = b"\n".join(signature) + b"\n" if signature else None
    return SignedObject(
        sha=sha,
        kind="commit",
        payload=payload,
        signature=sig,
        parents=tuple(parents),
        target=None,
        identity=identity,
        time=time,
        author=written_by,
    )


def parse_tag(sha: str, raw: bytes) -> SignedObject:
    """Split a raw annotated tag: its signature is the trailing armored block of the message."""
    head, _, _ = raw.partition(b"\n\n")
    target: str | None = None
    tagger: bytes | None = None
    for line in head.split(b"\n"):
        name, _, value = line.partition(b" ")
        if name == b"object":
            target = value.decode("ascii")
        elif name == b"tagger":
            tagger = value
    if target is None or tagger is None:
        raise ObjectFormatError(f"tag {sha} lacks an object or tagger header")
    identity, time = _parse_ident_time(tagger)
    # As git does, the signature starts at the last line that opens an armored block.
    start = -1
    for marker, _fmt in _MARKERS:
        at = raw.rfind(b"\n" + marker)
        if at != -1:
            start = max(start, at + 1)
    if start == -1:
        start = 0 if signature_format(raw) is not None else len(raw)
    payload, signature = raw[:start], raw[start:] or None
    return SignedObject(
        sha=sha,
        kind="tag",
        payload=payload,
        signature=signature,
        parents=(),
        target=target,
        identity=identity,
        time=time,
    )
