"""Offline verification of an evidence bundle: signatures, digests, chain links, coverage.

Nothing here opens a database or a socket: the bundle and, optionally, a public key the
auditor trusts are all it reads. Every record's hash is recomputed with the chain's own
functions (`gatekeeper.audit.verify.check_chain`), so a bundle verifies exactly when the
same records would verify in the store.

The zip itself is checked too: its local entries must follow one another from the first byte
to the central directory with nothing between them, so that a tool reading local headers in
order (a streaming unzip) sees exactly the entries the central directory lists and the
manifest vouches for. Damaged compressed data is a named problem, never a traceback.
"""

from __future__ import annotations

import collections
import hashlib
import itertools
import json
import re
import struct
import zipfile
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from gatekeeper.audit import chain
from gatekeeper.audit.signing import Verifier, checkpoint_message
from gatekeeper.audit.verify import check_chain
from gatekeeper.canonical import NotCanonicalisable
from gatekeeper.report.errors import BundleInvalid, SignatureInvalid
from gatekeeper.report.signing import ReportSignature, verify_bytes

BUNDLE_TYPE = "gatekeeper.evidence.bundle/v1"
BUNDLE_FILES: tuple[str, ...] = (
    "events.ndjson",
    "checkpoints.json",
    "report.json",
    "report.csv",
    "report.html",
    "report.pdf",
    "public-key.pem",
)
MANIFEST, MANIFEST_SIG = "MANIFEST.json", "MANIFEST.sig"
_CHUNK = 1 << 20
_PAYLOAD_KEY, _PREV_KEY = b',"payload":', b',"prev_hash":"'
_TAIL = re.compile(rb',"prev_hash":"[0-9a-f]{64}","hash":"[0-9a-f]{64}"\}\s*$')
_SMALL = 1 << 20  # the manifest, its signature and the key are a few kilobytes
# What reading an entry raises on damaged data: a bad deflate stream, a CRC mismatch or a
# local header that disagrees with the directory, a stream cut short, a method or
# encryption zipfile cannot read.
_DAMAGED = (zlib.error, zipfile.BadZipFile, EOFError, NotImplementedError, RuntimeError)
_LOCAL = struct.Struct("<4sHHHHHIIIHH")  # a local file header, before its name and extra
_LOCAL_SIGNATURE, _DESCRIPTOR_SIGNATURE = b"PK\x03\x04", b"PK\x07\x08"
_ZIP64_EXTRA = 0x0001


@dataclass(frozen=True)
class BundleCheck:
    """What a bundle that verified holds."""

    key_id: str
    records: int
    first_seq: int | None
    last_seq: int | None
    checkpoints: int
    covered_to: int | None
    manifest: dict[str, Any]


def verify_bundle(path: Path, trusted_key: Verifier | None = None) -> BundleCheck:
    """Check the bundle at `path`; `BundleInvalid` names every problem, the first one first.

    With `trusted_key`, the manifest must be signed by that key (a bundle whose bundled key is
    another one fails); without it, by the key the bundle carries, which shows the bundle is
    whole but not who made it.
    """
    try:
        archive = zipfile.ZipFile(path)
    except (OSError, zipfile.BadZipFile, EOFError, ValueError) as exc:
        raise BundleInvalid([f"{path} is not a readable zip file: {exc}"]) from exc
    with archive, path.open("rb") as raw:
        checker = _Checker(archive, trusted_key)
        checker.problems.extend(_untiled(archive, raw))
        try:
            return checker.run()
        except _DAMAGED as exc:
            raise BundleInvalid(
                [*checker.problems, f"{checker.reading} cannot be read from the zip: {exc}"]
            ) from exc


def _untiled(archive: zipfile.ZipFile, raw: IO[bytes]) -> list[str]:
    """Why the local entries do not follow one another exactly from byte 0 to the central
    directory ([] when they do): bytes in a gap could hold an entry the directory does not
    list, which a tool reading local headers in order would extract all the same."""
    problems: list[str] = []
    position = 0
    for info in sorted(archive.infolist(), key=lambda i: i.header_offset):
        if info.header_offset != position:
            problems.append(_gap(position, info.header_offset, f"the entry {info.filename}"))
            if info.header_offset < position:
                return problems  # overlapping entries: the extents below mean nothing
        end, problem = _local_end(raw, info)
        if problem is not None:
            problems.append(f"{info.filename}: its local header {problem}")
            return problems
        position = end
    start_dir = int(getattr(archive, "start_dir", position))
    if position != start_dir:
        problems.append(_gap(position, start_dir, "the central directory"))
    return problems


def _gap(position: int, start: int, what: str) -> str:
    if start < position:
        return f"{what} starts at byte {start}, inside the entry before it (ends at {position})"
    return (
        f"bytes {position}..{start - 1} of the zip, before {what}, belong to no entry the "
        "central directory lists: a tool reading the zip in order could find an entry there"
    )


def _local_end(raw: IO[bytes], info: zipfile.ZipInfo) -> tuple[int, str | None]:
    """Where the local entry of `info` ends (its header, data and data descriptor), or why
    its local header does not describe the entry the central directory lists."""
    raw.seek(info.header_offset)
    fixed = raw.read(_LOCAL.size)
    if len(fixed) != _LOCAL.size:
        return 0, "is cut short"
    signature, _, flags, _, _, _, _, compressed, _, name_length, extra_length = _LOCAL.unpack(fixed)
    if signature != _LOCAL_SIGNATURE:
        return 0, "is not a local file header"
    name = raw.read(name_length)
    if name != info.orig_filename.encode("utf-8" if flags & 0x800 else "cp437"):
        return 0, f"names another file ({name!r})"
    extra = raw.read(extra_length)
    zip64 = _zip64_sizes(extra)
    data_end = info.header_offset + _LOCAL.size + name_length + extra_length + info.compress_size
    if flags & 0x08:
        # A data descriptor after the data holds the sizes; the header's are zero.
        raw.seek(data_end)
        descriptor = 16 if zip64 is not None else 8
        return data_end + 4 + descriptor + (4 if raw.read(4) == _DESCRIPTOR_SIGNATURE else 0), None
    if compressed == 0xFFFFFFFF and zip64 is not None:
        compressed = zip64
    if compressed != info.compress_size:
        return 0, (
            f"states {compressed} compressed bytes, the central directory {info.compress_size}"
        )
    return data_end, None


def _zip64_sizes(extra: bytes) -> int | None:
    """The compressed size a local header's ZIP64 extra field states, None without one."""
    offset = 0
    while offset + 4 <= len(extra):
        kind, size = struct.unpack_from("<HH", extra, offset)
        if kind == _ZIP64_EXTRA and size >= 16:
            return int(struct.unpack_from("<Q", extra, offset + 12)[0])
        offset += 4 + size
    return None


class _Checker:
    def __init__(self, archive: zipfile.ZipFile, trusted_key: Verifier | None) -> None:
        self._archive = archive
        self._trusted = trusted_key
        self.problems: list[str] = []
        self.reading = "the zip"

    def run(self) -> BundleCheck:
        listed = self._archive.namelist()
        names = set(listed)
        # Each tool picks its own copy of a name held twice (zipfile the last, `unzip` the
        # first): the digests would vouch for one copy while the auditor reads another.
        for name, count in sorted(collections.Counter(listed).items()):
            if count > 1:
                self.problems.append(
                    f"{name} is in the bundle {count} times: which copy is read depends on the tool"
                )
        expected = {*BUNDLE_FILES, MANIFEST, MANIFEST_SIG}
        for name in sorted(expected - names):
            self.problems.append(f"{name} is missing from the bundle")
        for name in sorted(names - expected):
            self.problems.append(f"{name} is in the bundle but not part of its format")
        if not {MANIFEST, MANIFEST_SIG, "public-key.pem"} <= names:
            raise BundleInvalid(self.problems)
        key = self._key()
        manifest = self._manifest(key)
        checkpoints = self._checkpoints(manifest)
        for name in BUNDLE_FILES:
            if name in names and name not in ("events.ndjson", "checkpoints.json"):
                self._digest(manifest, name, self._stream(name))
        records = self._records(manifest, key, checkpoints) if "events.ndjson" in names else None
        if self.problems or records is None:
            raise BundleInvalid(self.problems)
        return records

    def _read(self, name: str) -> bytes:
        info = self._archive.getinfo(name)
        if info.file_size > _SMALL:
            raise BundleInvalid([*self.problems, f"{name} is too large ({info.file_size} bytes)"])
        self.reading = name
        return self._archive.read(name)

    def _stream(self, name: str) -> Iterator[bytes]:
        self.reading = name
        with self._archive.open(name) as handle:
            while chunk := handle.read(_CHUNK):
                yield chunk

    def _key(self) -> Verifier:
        try:
            public = serialization.load_pem_public_key(self._read("public-key.pem"))
        except ValueError as exc:
            raise BundleInvalid([*self.problems, "public-key.pem is not a PEM public key"]) from exc
        if not isinstance(public, Ed25519PublicKey):
            raise BundleInvalid([*self.problems, "public-key.pem is not an Ed25519 key"])
        bundled = Verifier(public)
        if self._trusted is not None and self._trusted.key_id != bundled.key_id:
            self.problems.append(
                f"public-key.pem is key {bundled.key_id}, not the trusted key "
                f"{self._trusted.key_id}"
            )
        return bundled

    def _manifest(self, key: Verifier) -> dict[str, Any]:
        data = self._read(MANIFEST)
        try:
            signature = ReportSignature.from_bytes(self._read(MANIFEST_SIG))
            verify_bytes(data, signature, key=self._trusted or key)
        except SignatureInvalid as exc:
            self.problems.append(f"{MANIFEST_SIG}: {exc}")
        try:
            manifest = json.loads(data)
            files = manifest["files"]
            if manifest.get("type") != BUNDLE_TYPE or not isinstance(files, dict):
                raise ValueError(f"not a {BUNDLE_TYPE} manifest")
        except (ValueError, KeyError, TypeError) as exc:
            raise BundleInvalid([*self.problems, f"{MANIFEST} is not a manifest: {exc}"]) from exc
        if sorted(files) != sorted(BUNDLE_FILES):
            self.problems.append(f"{MANIFEST} does not list exactly the bundle's files")
        return dict(manifest)

    def _digest(self, manifest: dict[str, Any], name: str, chunks: Iterator[bytes]) -> None:
        digest, size = hashlib.sha256(), 0
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
        if not _matches(manifest, name, digest.hexdigest(), size):
            self.problems.append(f"{name} differs from the digest {MANIFEST} states")

    def _checkpoints(self, manifest: dict[str, Any]) -> list[dict[str, Any]]:
        if "checkpoints.json" not in self._archive.namelist():
            return []
        self.reading = "checkpoints.json"
        data = self._archive.read("checkpoints.json")
        self._digest(manifest, "checkpoints.json", iter([data]))
        try:
            loaded = json.loads(data)
            checkpoints = [
                {
                    "id": int(item["id"]),
                    "seq": int(item["seq"]),
                    "head_hash": str(item["head_hash"]),
                    "time": str(item["time"]),
                    "key_id": str(item["key_id"]),
                    "signature": str(item["signature"]),
                }
                for item in loaded
            ]
        except (ValueError, KeyError, TypeError, OverflowError, RecursionError) as exc:
            self.problems.append(f"checkpoints.json is not a list of checkpoints: {exc}")
            return []
        return sorted(checkpoints, key=lambda c: (c["seq"], c["id"]))

    def _records(
        self, manifest: dict[str, Any], key: Verifier, checkpoints: list[dict[str, Any]]
    ) -> BundleCheck:
        digest, size = hashlib.sha256(), 0

        def chunks() -> Iterator[bytes]:
            nonlocal size
            for chunk in self._stream("events.ndjson"):
                digest.update(chunk)
                size += len(chunk)
                yield chunk

        source = chunks()
        parsed = _ParsedRows(_lines(source))
        rows = iter(parsed)
        head = next(rows, None)
        walk = check_chain(
            itertools.chain([head] if head is not None else [], rows),
            start_seq=head[0] if head is not None else 1,
            start_prev=None,
            keep={c["seq"] for c in checkpoints},
        )
        # The walk may stop early on a line that is not a record: read the rest for the digest.
        for _ in source:
            pass
        if not _matches(manifest, "events.ndjson", digest.hexdigest(), size):
            self.problems.append(f"events.ndjson differs from the digest {MANIFEST} states")
        self.problems.extend(parsed.problems)
        first = parsed.first_seq
        for finding in walk.findings:
            self.problems.append(
                f"events.ndjson: {finding.problem} at {finding.seq}: {finding.detail}"
            )
        signer = self._trusted or key
        for checkpoint in checkpoints:
            self._checkpoint(checkpoint, signer, walk.kept, first, walk.last_seq)
        covered = max((c["seq"] for c in checkpoints), default=None)
        if walk.count and (covered is None or covered < walk.last_seq):
            start = max((covered or 0) + 1, first or 0)
            self.problems.append(
                f"records {start}..{walk.last_seq} are not covered by a checkpoint in the "
                "bundle: nothing signed vouches for them"
            )
        return BundleCheck(
            key_id=signer.key_id,
            records=walk.count,
            first_seq=first,
            last_seq=walk.last_seq if walk.count else None,
            checkpoints=len(checkpoints),
            covered_to=covered,
            manifest=manifest,
        )

    def _checkpoint(
        self,
        checkpoint: dict[str, Any],
        key: Verifier,
        hashes: dict[int, str],
        first: int | None,
        last: int,
    ) -> None:
        label = f"checkpoints.json: checkpoint {checkpoint['id']} (record {checkpoint['seq']})"
        message = checkpoint_message(
            seq=checkpoint["seq"],
            head_hash=checkpoint["head_hash"],
            time=checkpoint["time"],
            key=checkpoint["key_id"],
        )
        if checkpoint["key_id"] != key.key_id:
            self.problems.append(f"{label} names key {checkpoint['key_id']}, not {key.key_id}")
        elif not key.is_valid(message, checkpoint["signature"]):
            self.problems.append(f"{label} has a signature that does not verify")
        if first is None or not first <= checkpoint["seq"] <= last:
            self.problems.append(f"{label} is outside the bundled records and cannot be checked")
        elif hashes.get(checkpoint["seq"]) != checkpoint["head_hash"]:
            self.problems.append(f"{label} signed a different hash than the bundled record has")


def _matches(manifest: dict[str, Any], name: str, sha256: str, size: int) -> bool:
    """Whether the manifest states this digest and size for `name` (an entry that is not an
    object states nothing)."""
    stated = manifest["files"].get(name)
    if not isinstance(stated, dict):
        return False
    return bool(stated.get("sha256") == sha256 and stated.get("size") == size)


class _ParsedRows:
    """NDJSON lines as the row tuples `check_chain` walks; stops at the first bad line."""

    def __init__(self, lines: Iterator[bytes]) -> None:
        self._lines = lines
        self.problems: list[str] = []
        self.first_seq: int | None = None

    def __iter__(self) -> Iterator[tuple[Any, ...]]:
        for number, line in enumerate(self._lines, start=1):
            try:
                item = json.loads(line)
                row = (
                    item["seq"],
                    item["time"],
                    item["kind"],
                    item["actor"],
                    item["subject"],
                    item["source"],
                    item["commit"],
                    _payload_text(line, item["payload"]),
                    item["prev_hash"],
                    item["hash"],
                )
                if (
                    type(row[0]) is not int
                    or not all(isinstance(v, str) for v in (*row[1:5], *row[8:]))
                    or not all(v is None or isinstance(v, str) for v in row[5:7])
                ):
                    raise TypeError("fields of the wrong type")
            except (ValueError, KeyError, TypeError, NotCanonicalisable) as exc:
                self.problems.append(f"events.ndjson line {number} is not a record: {exc}")
                return
            if self.first_seq is None:
                self.first_seq = row[0]
            yield row


def _payload_text(line: bytes, payload: Any) -> str:
    """The payload's text as it was hashed.

    Lines as `write_bundle` lays them out hold the stored canonical text between
    `,"payload":` and `,"prev_hash":"` (neither can occur inside a JSON string, where quotes
    are escaped), so it is taken as it is when it parses to the line's own payload: a third
    of the cost of serialising it again, which is what any other layout gets. A text that is
    not the hashed one fails the hash check either way.
    """
    start = line.find(_PAYLOAD_KEY)
    end = line.rfind(_PREV_KEY)
    # Only the two hashes may follow: no second "payload" member that a parser would take.
    if 0 < start < end and _TAIL.match(line, end):
        text = line[start + len(_PAYLOAD_KEY) : end]
        try:
            if json.loads(text) == payload:
                return text.decode("utf-8")
        except ValueError:
            pass
    return chain.canonical_payload(payload)


def _lines(chunks: Iterator[bytes]) -> Iterator[bytes]:
    rest = b""
    for chunk in chunks:
        parts = (rest + chunk).split(b"\n")
        rest = parts.pop()
        yield from (part for part in parts if part.strip())
    if rest.strip():
        yield rest
