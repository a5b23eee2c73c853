"""Kustomize sources: the kustomizations a source reaches, checked, then `kubectl kustomize`.

An overlay reaches its bases, components, patches and generators' files anywhere in the
repository (`resources: [../../base]`), as Argo CD and Flux allow. Before kustomize runs,
`references` follows every kustomization from the entry point and lists each file it names,
so that the render can record what it read, and refuses, by name:

- anything that resolves outside the repository (`../../../etc`): kustomize itself would load
  a base from anywhere on the disk;
- a remote base or component (`https://...`, `github.com/org/repo//path?ref=v1`, `git@...`):
  only what the signed commit holds is rendered. Kustomize runs with every network route
  closed as well, so a reference this walk does not know still cannot fetch anything.
"""

from __future__ import annotations

import os
import posixpath
import re
import signal
import subprocess
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, Final

from gatekeeper.reconcile.errors import RenderError
from gatekeeper.reconcile.kubeyaml import Budget, load_all, read_text
from gatekeeper.reconcile.limited import GO_OUT_OF_MEMORY, limited
from gatekeeper.settings.sources import ReconcilerLimits

KUSTOMIZATIONS: Final = ("kustomization.yaml", "kustomization.yml", "Kustomization")
# kustomize fetches remote bases over HTTP and Git; a commit must not pull in content nobody
# signed, so neither can reach anything (a remote base fails with a clear message).
OFFLINE: Final = {
    "HTTP_PROXY": "http://127.0.0.1:9",
    "HTTPS_PROXY": "http://127.0.0.1:9",
    "http_proxy": "http://127.0.0.1:9",
    "https_proxy": "http://127.0.0.1:9",
    "NO_PROXY": "",
    "no_proxy": "",
    "GIT_ALLOW_PROTOCOL": "none",
    "GIT_TERMINAL_PROMPT": "0",
}
# What kustomize treats as a remote target when no such local path exists.
_REMOTE: Final = re.compile(
    r"^([a-z][a-z0-9+.-]*://|git@|[\w.-]+@[\w.-]+:|(github|gitlab|bitbucket)\.(com|org)/)"
    r"|\?(ref|version|submodules|timeout)=|//",
    re.IGNORECASE,
)
# Fields whose entries are kustomizations (directories) or resource files.
_TARGETS: Final = ("resources", "bases", "components")
# Fields whose entries are files (or inline YAML, which holds a line break).
_FILE_LISTS: Final = (
    "patchesStrategicMerge",
    "crds",
    "configurations",
    "generators",
    "transformers",
    "validators",
)
_PATH_OBJECTS: Final = ("patches", "patchesJson6902", "replacements")
_GENERATORS: Final = ("configMapGenerator", "secretGenerator")


def kustomization_file(directory: Path) -> Path | None:
    for name in KUSTOMIZATIONS:
        if (directory / name).is_file():
            return directory / name
    return None


def references(entry: Path, repo_root: Path, budget: Budget) -> list[str]:
    """The repository paths of every file the kustomization at `entry` reaches (its own
    kustomization file first), sorted; `RenderError` for anything remote or outside."""
    walk = _Walk(repo_root.resolve(), budget)
    walk.directory(_relative(entry.resolve(), walk.root, str(entry)), via=None)
    return sorted(walk.files)


class _Walk:
    def __init__(self, root: Path, budget: Budget) -> None:
        self.root = root
        self.budget = budget
        self.files: set[str] = set()
        self.seen: set[str] = set()

    def directory(self, where: str, *, via: str | None) -> None:
        if where in self.seen:
            return
        self.seen.add(where)
        found = kustomization_file(self.root / where)
        if found is None:
            if via is not None:
                raise RenderError(f"{via}: {where} holds no kustomization.yaml")
            raise RenderError(f"{where}: no kustomization.yaml")
        name = _relative(found, self.root, str(found))
        self.files.add(name)
        document = self._read(name)
        for field in _TARGETS:
            for item in _entries(document, field, name):
                self._target(where, item, f"{name}: {field}")
        for field in _FILE_LISTS:
            for item in _entries(document, field, name):
                if "\n" not in item:  # inline YAML otherwise
                    self._file(where, item, f"{name}: {field}")
        for field in _PATH_OBJECTS:
            for spec in _objects(document, field, name):
                if isinstance(spec.get("path"), str):
                    self._file(where, spec["path"], f"{name}: {field}")
        openapi = document.get("openapi")
        if isinstance(openapi, Mapping) and isinstance(openapi.get("path"), str):
            self._file(where, openapi["path"], f"{name}: openapi")
        for field in _GENERATORS:
            for generator in _objects(document, field, name):
                for file in _strings(generator.get("files"), f"{name}: {field}.files"):
                    self._file(where, file.rpartition("=")[2], f"{name}: {field}")
                for file in _strings(generator.get("envs"), f"{name}: {field}.envs"):
                    self._file(where, file, f"{name}: {field}")
                if isinstance(generator.get("env"), str):
                    self._file(where, generator["env"], f"{name}: {field}")

    def _read(self, name: str) -> Mapping[str, Any]:
        path = self.root / name
        limit = self.budget.limits.max_file_bytes
        try:
            data = path.read_bytes()[: limit + 1]
        except OSError as exc:
            raise RenderError(f"{name}: cannot read: {exc.strerror or exc}") from exc
        documents = [
            d for d in load_all(read_text(data, name, self.budget), name, self.budget) if d
        ]
        if len(documents) != 1 or not isinstance(documents[0], Mapping):
            raise RenderError(f"{name}: a kustomization must be one YAML mapping")
        return documents[0]

    def _target(self, base: str, item: str, field: str) -> None:
        resolved = self._inside(base, item, field)
        if resolved is None:
            return
        path = self.root / resolved
        if path.is_dir():
            self.directory(resolved, via=field)
        elif path.is_file():
            self.files.add(resolved)

    def _file(self, base: str, item: str, field: str) -> None:
        resolved = self._inside(base, item, field)
        if resolved is not None and (self.root / resolved).is_file():
            self.files.add(resolved)

    def _inside(self, base: str, item: str, field: str) -> str | None:
        """`item` as a repository path, or None when the commit has no such path (kustomize
        then says it is missing); `RenderError` when it is remote or leaves the repository."""
        if posixpath.isabs(item):
            raise RenderError(f"{field}: {item} is an absolute path, outside the repository")
        joined = posixpath.normpath(posixpath.join(base, item))
        local = not (joined == ".." or joined.startswith("../"))
        exists = local and os.path.lexists(self.root / joined)
        if not exists and _REMOTE.search(item):
            raise RenderError(
                f"{field}: {item} is a remote base; only what the signed commit holds is "
                "rendered (vendor it into the repository)"
            )
        if not local:
            raise RenderError(f"{field}: {item} is outside the repository")
        if not exists:
            return None
        resolved = (self.root / joined).resolve()
        return _relative(resolved, self.root, f"{field}: {item}")


def _relative(path: Path, root: Path, what: str) -> str:
    try:
        relative = path.relative_to(root)
    except ValueError:
        raise RenderError(f"{what}: outside the repository") from None
    return relative.as_posix() or "."


def _entries(document: Mapping[str, Any], field: str, where: str) -> list[str]:
    return _strings(document.get(field), f"{where}: {field}")


def _strings(value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise RenderError(f"{where}: not a list of text")
    return list(value)


def _objects(document: Mapping[str, Any], field: str, where: str) -> Iterable[Mapping[str, Any]]:
    value = document.get(field)
    if value is None:
        return []
    if not isinstance(value, list):
        raise RenderError(f"{where}: {field} is not a list")
    return [item for item in value if isinstance(item, Mapping)]


def build(entry: Path, kubectl: str, origin: str, limits: ReconcilerLimits) -> bytes:
    """`kubectl kustomize` of `entry`, offline, within `limits`' time, memory and output size;
    its output."""
    most = limits.max_total_bytes
    command = limited([kubectl, "kustomize", str(entry)], limits)
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        try:
            done = subprocess.run(
                command,
                stdout=out,
                stderr=err,
                check=False,
                timeout=limits.render_seconds,
                env={**os.environ, **OFFLINE},
            )
        except subprocess.TimeoutExpired:
            raise RenderError(
                f"{origin}: kubectl kustomize ran longer than {limits.render_seconds:g} s "
                "(reconciler.limits.renderSeconds)"
            ) from None
        except OSError as exc:
            raise RenderError(f"{origin}: kubectl kustomize failed: {exc}") from exc
        size = out.seek(0, os.SEEK_END)
        err.seek(max(err.seek(0, os.SEEK_END) - 4000, 0))
        message = err.read().decode("utf-8", "replace").strip()
        if size > most or done.returncode == -signal.SIGXFSZ or "file too large" in message:
            raise RenderError(
                f"{origin} (kustomize output): over the limit of {most} bytes "
                "(reconciler.limits.maxTotalBytes)"
            )
        if done.returncode != 0 and any(sign in message for sign in GO_OUT_OF_MEMORY):
            raise RenderError(
                f"{origin}: kubectl kustomize needed more than {limits.render_memory_bytes} "
                "bytes of memory (reconciler.limits.renderMemoryBytes)"
            )
        if done.returncode != 0:
            raise RenderError(f"{origin}: kubectl kustomize failed: {message[-2000:]}")
        out.seek(0)
        return out.read()
