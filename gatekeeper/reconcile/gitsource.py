"""The Git side of a source: a local mirror, the commit a ref names, range checks, exports."""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from pathlib import Path
from typing import Protocol

from gatekeeper.provenance import (
    GitRepository,
    ProvenanceError,
    RangeVerdict,
    load_trust_policy,
    verify_range,
)
from gatekeeper.reconcile.errors import ReconcileError, RenderError, SourceUnavailable


class GitPort(Protocol):
    """What the reconciler needs from Git for one source."""

    def fetch(self) -> str:
        """Bring the mirror up to date; the full SHA the source's ref names now."""
        ...

    def verify(self, *, since: str | None, target: str) -> RangeVerdict:
        """The provenance verdict on what a sync from `since` to `target` brings."""
        ...

    def export(self, commit: str, path: str, dest: Path) -> Path:
        """Write the tree of `path` at `commit` under `dest`; the directory holding it."""
        ...

    def resolve(self, rev: str) -> str:
        """The full SHA of a commit named by (a prefix of) its SHA, a branch or a tag."""
        ...


class GitMirror:
    """A bare mirror of a source's repository in a cache folder, verified by a trust policy."""

    def __init__(self, *, url: str, ref: str, trust_file: Path, cache_dir: Path) -> None:
        self._url = url
        self._ref = ref
        self._trust_file = trust_file
        name = hashlib.sha256(url.encode()).hexdigest()[:16]
        self._dir = cache_dir / name
        self._repo: GitRepository | None = None

    @property
    def git_dir(self) -> Path:
        return self._dir

    def fetch(self) -> str:
        try:
            if self._repo is None:
                self._dir.parent.mkdir(parents=True, exist_ok=True)
                self._repo = GitRepository.clone(self._url, self._dir)
            else:
                self._repo.fetch()
        except ProvenanceError as exc:
            raise SourceUnavailable(f"cannot fetch {self._url} ({self._ref}): {exc}") from exc
        try:
            return self._repo.resolve(self._ref)
        except ProvenanceError as exc:
            raise ReconcileError(f"cannot fetch {self._url} ({self._ref}): {exc}") from exc

    def _repository(self) -> GitRepository:
        if self._repo is None:
            self.fetch()
        assert self._repo is not None
        return self._repo

    def verify(self, *, since: str | None, target: str) -> RangeVerdict:
        policy = load_trust_policy(self._trust_file)
        return verify_range(self._repository(), policy, since=since, target=target)

    def resolve(self, rev: str) -> str:
        """The full SHA of a commit named by SHA (or a prefix), branch or tag."""
        try:
            return self._repository().resolve(rev)
        except ProvenanceError as exc:
            raise ReconcileError(f"{rev!r} names no commit of {self._url}") from exc

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        return self._repository().is_ancestor(ancestor, descendant)

    def export(self, commit: str, path: str, dest: Path) -> Path:
        clean = path.strip("/") or "."
        spec = [] if clean == "." else ["--", clean]
        done = subprocess.run(
            ["git", "--git-dir", str(self._dir), "archive", "--format=tar", commit, *spec],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip()
            raise RenderError(f"cannot export {clean} at {commit[:12]}: {message}")
        dest.mkdir(parents=True, exist_ok=True)
        with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
            archive.extractall(dest, filter="data")
        return dest if clean == "." else dest / clean
