"""OPA bundles: a `.tar.gz` of Rego modules, data files and a `.manifest`, optionally signed.

Read in memory, never extracted: every entry must be a regular file (or a folder) whose name
stays inside the bundle; `..`, links and devices are refused. As OPA lays a bundle out,
`data.json` and `data.yaml` are mounted at their folder's path and `*.rego` files are modules;
the `.manifest` gives a `revision` and the `roots` the bundle owns, and every package and data
path must lie under one of them.

A signed bundle carries `.signatures.json` holding one JWT (as `opa sign` writes it) that lists
every file with its digest. When a verification key is configured the signature must verify,
every file of the archive must be listed with a matching digest (JSON and YAML files hashed in
OPA's canonical form: keys sorted, no whitespace) and every listed file must be present. A
bundle without a signature is refused then.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import posixpath
import tarfile
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gatekeeper.policy import jws, rego_source
from gatekeeper.policy.engine import RegoModule
from gatekeeper.policy.errors import PolicyLoadError

MANIFEST = ".manifest"
SIGNATURES = ".signatures.json"
DATA_FILES = frozenset({"data.json", "data.yaml"})
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024
MAX_CONTENT_BYTES = 128 * 1024 * 1024
MAX_FILES = 10_000
# The digests OPA offers that are still collision resistant; MD5 and SHA-1 are refused.
_DIGESTS = {
    "SHA-224": "sha224",
    "SHA-256": "sha256",
    "SHA-384": "sha384",
    "SHA-512": "sha512",
    "SHA-512-224": "sha512_224",
    "SHA-512-256": "sha512_256",
}


class BundleError(PolicyLoadError):
    """A bundle that cannot be used; the message names the archive and the entry."""


@dataclass(frozen=True)
class DataDocument:
    mount: tuple[str, ...]
    document: Mapping[str, Any]
    origin: str


@dataclass(frozen=True)
class Bundle:
    """A bundle's content, checked; `signed` says whether a signature was verified."""

    label: str
    digest: str
    revision: str
    roots: tuple[str, ...]
    modules: tuple[RegoModule, ...]
    tests: tuple[RegoModule, ...]
    documents: tuple[DataDocument, ...]
    signed: bool = False
    key_id: str | None = None


def load_bundle(path: Path, *, key: jws.VerificationKey | None = None) -> Bundle:
    """Read and check the bundle at `path` (see `read_bundle`)."""
    try:
        with path.open("rb") as handle:
            archive = handle.read(MAX_ARCHIVE_BYTES + 1)
    except OSError as exc:
        raise BundleError(f"{path}: cannot read: {exc}") from exc
    if len(archive) > MAX_ARCHIVE_BYTES:
        raise BundleError(f"{path}: larger than {MAX_ARCHIVE_BYTES} bytes")
    return read_bundle(archive, label=str(path), key=key)


def read_bundle(archive: bytes, *, label: str, key: jws.VerificationKey | None = None) -> Bundle:
    """The bundle in `archive` (gzip-compressed tar), its signature verified when `key` is set.

    Raises `BundleError` naming `label` and the entry for anything that cannot be used.
    """
    files = _entries(archive, label)
    signed = False
    key_id = None
    if key is not None:
        if SIGNATURES not in files:
            raise BundleError(f"{label}: no {SIGNATURES}, and a verification key is configured")
        key_id = _verify(files, key, label)
        signed = True
    manifest = _manifest(files.get(MANIFEST), label)
    roots = _roots(manifest, label)
    modules: list[RegoModule] = []
    tests: list[RegoModule] = []
    documents: list[DataDocument] = []
    for name, content in sorted(files.items()):
        origin = f"{label}#{name}"
        base = posixpath.basename(name)
        folder = tuple(p for p in posixpath.dirname(name).split("/") if p)
        if name.endswith(".rego"):
            module = _module(content, origin)
            _within_roots(roots, tuple((module.package or "").split(".")), origin)
            (tests if name.endswith("_test.rego") else modules).append(module)
        elif base in DATA_FILES:
            document = _document(content, base, origin)
            for key_name in document:
                _within_roots(roots, (*folder, key_name), origin)
            documents.append(DataDocument(folder, document, origin))
        elif name.endswith(".wasm") or base == "plan.json":
            raise BundleError(f"{origin}: Wasm and plan bundles are not supported; Rego only")
    return Bundle(
        label=label,
        digest="sha256:" + hashlib.sha256(archive).hexdigest(),
        revision=str(manifest.get("revision") or ""),
        roots=roots,
        modules=tuple(modules),
        tests=tuple(tests),
        documents=tuple(documents),
        signed=signed,
        key_id=key_id,
    )


def _entries(archive: bytes, label: str) -> dict[str, bytes]:
    files: dict[str, bytes] = {}
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
            for member in tar:
                name = _clean_name(member.name, label)
                if member.isdir():
                    continue
                if not member.isfile():
                    raise BundleError(f"{label}#{member.name}: not a regular file (a link?)")
                if name in files:
                    raise BundleError(f"{label}#{name}: twice in the archive")
                if len(files) >= MAX_FILES:
                    raise BundleError(f"{label}: more than {MAX_FILES} files")
                total += member.size
                if total > MAX_CONTENT_BYTES:
                    raise BundleError(f"{label}: more than {MAX_CONTENT_BYTES} bytes unpacked")
                handle = tar.extractfile(member)
                files[name] = handle.read() if handle is not None else b""
    except (tarfile.TarError, gzip.BadGzipFile, EOFError, OSError, zlib.error) as exc:
        raise BundleError(f"{label}: not a gzip-compressed tar archive: {exc}") from exc
    return files


def _clean_name(raw: str, label: str) -> str:
    """`/a/b.rego` and `./a/b.rego` (as `opa build` and `tar` write them) are `a/b.rego`."""
    name = raw.lstrip("/")
    while name.startswith("./"):
        name = name[2:].lstrip("/")
    parts = name.split("/")
    if "\\" in name or any(p == ".." for p in parts) or "\x00" in name:
        raise BundleError(f"{label}#{raw}: a path outside the bundle")
    return "/".join(p for p in parts if p not in ("", "."))


def _verify(files: Mapping[str, bytes], key: jws.VerificationKey, label: str) -> str | None:
    try:
        signatures = json.loads(files[SIGNATURES])
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{label}#{SIGNATURES}: not JSON: {exc}") from exc
    tokens = signatures.get("signatures") if isinstance(signatures, dict) else None
    if not isinstance(tokens, list) or len(tokens) != 1 or not isinstance(tokens[0], str):
        raise BundleError(f"{label}#{SIGNATURES}: expected exactly one JWT in `signatures`")
    try:
        payload = jws.verify(tokens[0], key)
    except PolicyLoadError as exc:
        raise BundleError(f"{label}#{SIGNATURES}: {exc}") from exc
    key_id = payload.get("keyid")
    if key.key_id and key_id and key_id != key.key_id:
        raise BundleError(f"{label}: signed for key id {key_id!r}, expected {key.key_id!r}")
    if (payload.get("scope") or None) != (key.scope or None):
        raise BundleError(f"{label}: signature scope {payload.get('scope')!r} is not {key.scope!r}")
    listed = payload.get("files")
    if not isinstance(listed, list):
        raise BundleError(f"{label}#{SIGNATURES}: the signed payload lists no `files`")
    expected: dict[str, tuple[str, str]] = {}
    for entry in listed:
        if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
            raise BundleError(f"{label}#{SIGNATURES}: a listed file has no name")
        name = _clean_name(entry["name"], label)
        expected[name] = (str(entry.get("hash") or ""), str(entry.get("algorithm") or ""))
    for name, content in sorted(files.items()):
        if name == SIGNATURES:
            continue
        if name not in expected:
            raise BundleError(f"{label}#{name}: not listed in the bundle's signature")
        want, algorithm = expected.pop(name)
        got = file_digest(name, content, algorithm, label)
        if got != want.lower():
            raise BundleError(f"{label}#{name}: digest mismatch (signed {want}, found {got})")
    if expected:
        raise BundleError(f"{label}: signed files missing from the archive: {sorted(expected)}")
    return str(key_id) if key_id else key.key_id


def file_digest(name: str, content: bytes, algorithm: str, label: str = "bundle") -> str:
    """The hex digest OPA signs for a file: of the canonical JSON for `.manifest`,
    `data.json` and `data.yaml`, of the bytes for anything else."""
    if algorithm not in _DIGESTS:
        raise BundleError(
            f"{label}#{name}: digest algorithm {algorithm!r} not accepted "
            f"(one of {', '.join(_DIGESTS)})"
        )
    base = posixpath.basename(name)
    if base in (MANIFEST, "data.json", SIGNATURES):
        try:
            value = json.loads(content, parse_int=_Number, parse_float=_Number)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BundleError(f"{label}#{name}: not JSON: {exc}") from exc
        content = canonical_json(value).encode()
    elif base == "data.yaml":
        content = canonical_json(_yaml(content, f"{label}#{name}")).encode()
    return hashlib.new(_DIGESTS[algorithm], content).hexdigest()


class _Number(str):
    """A JSON number kept as written, since OPA hashes numbers as they are written."""


def canonical_json(value: Any) -> str:
    """JSON with keys sorted and no whitespace, strings escaped as Go's encoder does."""
    if isinstance(value, dict):
        items = (f"{_string(str(k))}:{canonical_json(value[k])}" for k in sorted(value))
        return "{" + ",".join(items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(canonical_json(v) for v in value) + "]"
    if isinstance(value, _Number):
        return str.__str__(value)
    if isinstance(value, str):
        return _string(value)
    return json.dumps(value)


def _string(text: str) -> str:
    return (
        json.dumps(text, ensure_ascii=False)
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def _manifest(content: bytes | None, label: str) -> dict[str, Any]:
    if content is None:
        return {}
    try:
        manifest = json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BundleError(f"{label}#{MANIFEST}: not JSON: {exc}") from exc
    if not isinstance(manifest, dict):
        raise BundleError(f"{label}#{MANIFEST}: must be a JSON object")
    if manifest.get("rego_version", 1) != 1:
        raise BundleError(
            f"{label}#{MANIFEST}: rego_version {manifest['rego_version']!r}; only Rego v1 "
            "bundles are loaded (build the bundle with OPA 1.x)"
        )
    return manifest


def _roots(manifest: Mapping[str, Any], label: str) -> tuple[str, ...]:
    roots = manifest.get("roots", [""])
    if not isinstance(roots, list) or not all(isinstance(r, str) for r in roots):
        raise BundleError(f"{label}#{MANIFEST}: roots must be a list of strings")
    return tuple(r.strip("/") for r in roots)


def _within_roots(roots: Sequence[str], path: tuple[str, ...], origin: str) -> None:
    for root in roots:
        segments = tuple(p for p in root.split("/") if p)
        if path[: len(segments)] == segments:
            return
    shown = "/".join(path)
    raise BundleError(f"{origin}: {shown} is outside the bundle's roots {list(roots)}")


def _module(content: bytes, origin: str) -> RegoModule:
    try:
        source = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise BundleError(f"{origin}: not UTF-8: {exc}") from exc
    if rego_source.package_of(source) is None:
        raise BundleError(f"{origin}:1: a Rego module must start with a package line")
    return RegoModule(path=origin, source=source)


def _document(content: bytes, base: str, origin: str) -> Mapping[str, Any]:
    if base == "data.json":
        try:
            document = json.loads(content)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise BundleError(f"{origin}: invalid JSON: {exc}") from exc
    else:
        document = _yaml(content, origin)
    if not isinstance(document, dict):
        raise BundleError(f"{origin}: a data file must hold an object")
    return document


def _yaml(content: bytes, origin: str) -> Any:
    try:
        return yaml.safe_load(content.decode("utf-8"))
    except (yaml.YAMLError, UnicodeDecodeError) as exc:
        raise BundleError(f"{origin}: invalid YAML: {exc}") from exc
