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


def _split_ident(line: bytes) -> tuple[bytes, bytes]:
    """(identity, seconds) of `Name <email> SECONDS +ZZZZ`, split as _IDENT_TIME splits it.

    The two last spaces split the common shapes without the regular expression (about twice as
    fast, and a long range has two such lines per commit); anything else goes to it.
    """
    head, _, zone = line.rpartition(b" ")
    ident, space, seconds = head.rpartition(b" ")
    if (
        space
        and len(zone) == 5
        and zone[:1] in (b"+", b"-")
        and zone[1:].isdigit()
        and (seconds.isdigit() or (seconds[:1] == b"-" and seconds[1:].isdigit()))
        and b"\n" not in ident
    ):
        return ident, seconds
    match = _IDENT_TIME.match(line)
    if match is None:
        raise ObjectFormatError(f"malformed identity line: {line[:80]!r}")
    return match.group("ident"), match.group("seconds")


def _when(seconds: bytes, line: bytes) -> datetime:
    try:
        return datetime.fromtimestamp(int(seconds), UTC)
    except (OverflowError, OSError, ValueError) as exc:
        raise ObjectFormatError(f"identity time out of range: {line[:80]!r}") from exc


def _parse_ident_time(line: bytes) -> tuple[str, datetime]:
    ident, seconds = _split_ident(line)
    return ident.decode("utf-8", "replace"), _when(seconds, line)


# The header lines whose values a verdict needs: `name value`, or a bare `name`.
_FIELDS = re.compile(rb"^(parent|author|committer)(?: ([^\n]*))?$", re.MULTILINE)
# One `gpgsig` header with its continuation lines, starting at the newline before it.
_GPGSIG_BLOCK = re.compile(rb"\ngpgsig ([^\n]*\n(?: [^\n]*\n)*)")


# The signature header of each object format: a SHA-256 repository signs in
# `gpgsig-sha256` (and may carry a `gpgsig` for SHA-1 readers, which is not its own).
SHA1_SIGNATURE_HEADER = b"gpgsig"
SHA256_SIGNATURE_HEADER = b"gpgsig-sha256"


def split_signed_commit(
    raw: bytes, header: bytes = SHA1_SIGNATURE_HEADER
) -> tuple[bytes, bytes | None]:
    """(payload, signature) of a raw commit, line by line as git's verify-commit splits it.

    The `header` of the repository's object format (`gpgsig`, or `gpgsig-sha256` in a
    SHA-256 repository) and its continuation lines (their leading space removed) are the
    signature; any other header whose name starts with `gpgsig` (the other object format's
    signature) is dropped with its continuation lines; every other line is payload. Only
    the headers are looked at: everything from the first empty line on is payload.
    """
    mine = header + b" "
    payload = bytearray()
    signature = bytearray()
    in_signature = other_signature = saw_signature = False
    start, size = 0, len(raw)
    while start < size:
        end = raw.find(b"\n", start)
        end = size if end == -1 else end + 1
        line = raw[start:end]
        sig: bytes | None = None
        if in_signature and line.startswith(b" "):
            sig = line[1:]
        elif line.startswith(mine):
            sig, other_signature = line[len(mine) :], False
        elif line.startswith(b"gpgsig"):
            # The other object format's signature, and to git any other header that
            # starts so: dropped with its continuation lines.
            other_signature = True
        elif other_signature and not line.startswith(b" "):
            other_signature = False
        if sig is not None:
            signature += sig
            saw_signature = in_signature = True
        else:
            if line.startswith(b"\n"):
                end = size  # the headers end here: the rest is the message
            if not other_signature:
                payload += raw[start:end]
            in_signature = False
        start = end
    return bytes(payload), bytes(signature) if saw_signature else None


def _split_fast(raw: bytes, headers: bytes) -> tuple[bytes, bytes | None] | None:
    """The same split for the shapes git writes (no `gpgsig`, or one), else None."""
    if headers.startswith(b"gpgsig"):
        return None
    found = headers.count(b"\ngpgsig")
    if found == 0:
        return raw, None
    if found == 1 and (block := _GPGSIG_BLOCK.search(headers)) is not None:
        payload = raw[: block.start() + 1] + raw[block.end() :]
        return payload, block.group(1).replace(b"\n ", b"\n")
    return None


def parse_commit(sha: str, raw: bytes) -> SignedObject:
    """Split a raw commit into payload and signature the way `git verify-commit` does."""
    end = raw.find(b"\n\n")
    if end == -1:
        raise ObjectFormatError(f"commit {sha} has no blank line after its headers")
    headers = raw[: end + 1]
    if len(sha) == 64:  # a SHA-256 repository's commit
        payload, sig = split_signed_commit(raw, SHA256_SIGNATURE_HEADER)
    else:
        split = _split_fast(raw, headers)
        payload, sig = split if split is not None else split_signed_commit(raw)
    parents: list[str] = []
    idents: dict[bytes, bytes] = {}
    for name, value in _FIELDS.findall(headers):
        if name == b"parent":
            try:
                parents.append(value.decode("ascii"))
            except UnicodeDecodeError as exc:
                raise ObjectFormatError(f"commit {sha} has a malformed parent") from exc
        elif name in idents:
            # git reads the first, a reader of the last would name someone else.
            raise ObjectFormatError(f"commit {sha} has more than one {name.decode()} header")
        else:
            idents[name] = value
    committer, author = idents.get(b"committer"), idents.get(b"author")
    if committer is None:
        raise ObjectFormatError(f"commit {sha} has no committer")
    ident, seconds = _split_ident(committer)
    identity, time = ident.decode("utf-8", "replace"), _when(seconds, committer)
    written_by: str | None = None
    if author is not None:
        author_ident, author_seconds = _split_ident(author)
        if author_seconds != seconds:  # usually the same moment: checked once
            _when(author_seconds, author)
        written_by = author_ident.decode("utf-8", "replace")
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
        if name not in (b"object", b"tagger"):
            continue
        if (target if name == b"object" else tagger) is not None:
            raise ObjectFormatError(f"tag {sha} has more than one {name.decode()} header")
        if name == b"object":
            target = value.decode("ascii")
        else:
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
