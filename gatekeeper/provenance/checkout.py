"""A verified checkout: a Git source's files at a commit whose range a trust policy accepted.

For readers of Git other than the reconciler (policy sources): a bare mirror in a cache
folder, the commit a ref names, the range from the last loaded commit verified with a trust
policy (history only moves forward: `HistoryRewritten` otherwise), and the files under a path
at a commit written to a folder. An export holds regular files and folders only: symbolic
links and submodules are refused, and sizes are bounded before anything is written.
"""

from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

from gatekeeper.provenance.errors import HistoryRewritten, ProvenanceError, RepositoryError
from gatekeeper.provenance.extract import extract
from gatekeeper.provenance.policy import load_trust_policy
from gatekeeper.provenance.repository import FetchedRef, GitRepository, git_command
from gatekeeper.provenance.verdicts import RangeVerdict
from gatekeeper.provenance.verify import verify_range


class ExportError(ProvenanceError):
    """The files at a commit cannot be exported: a link, a submodule, too large."""


@dataclass(frozen=True)
class ExportLimits:
    max_files: int = 10_000
    max_file_bytes: int = 4 * 1024 * 1024
    max_total_bytes: int = 64 * 1024 * 1024


@dataclass(frozen=True)
class RangeCheck:
    """The verdict on loading `target` after `since`, in plain values: `trusted`, or why not
    (`reason`: `history_rewritten` or `untrusted`, with the untrusted commits)."""

    target: str
    since: str | None
    trusted: bool
    reason: str = ""
    detail: str = ""
    signers: tuple[str, ...] = ()
    commits: tuple[Mapping[str, Any], ...] = ()


class VerifiedCheckout:
    """One Git source (URL or local path, and a ref) mirrored under `cache_dir`."""

    def __init__(
        self, *, url: str, ref: str, cache_dir: Path, limits: ExportLimits | None = None
    ) -> None:
        self.url = url
        self.ref = ref
        self._dir = cache_dir / hashlib.sha256(url.encode()).hexdigest()[:16]
        self._limits = limits or ExportLimits()
        self._repo: GitRepository | None = None
        self._fetched: FetchedRef | None = None  # what the ref named at the last fetch

    def fetch(self) -> str:
        """Bring the mirror up to date; the full SHA the ref names now (`RepositoryError`)."""
        if self._repo is None:
            self._dir.parent.mkdir(parents=True, exist_ok=True)
            self._repo = GitRepository.clone(self.url, self._dir)
        else:
            self._repo.fetch()
        self._fetched = self._repo.fetched_ref(self.ref)
        return self._fetched.commit

    @property
    def repository(self) -> GitRepository:
        if self._repo is None:
            self.fetch()
        assert self._repo is not None
        return self._repo

    def verify(self, trust_file: Path, *, since: str | None, target: str) -> RangeVerdict:
        """The trust policy's verdict on what loading `target` after `since` brings.

        The trust policy is read again each time, so a signer added there counts at once.
        When the ref named an annotated tag at the last fetch and `target` is its commit, the
        tag's own signature must be trusted as well. Raises `HistoryRewritten` when `target`
        does not descend from `since`.
        """
        repository = self.repository
        policy = load_trust_policy(trust_file)
        named = self._fetched.verify_target(target) if self._fetched is not None else target
        return verify_range(repository, policy, since=since, target=named)

    def check(self, trust_file: Path, *, since: str | None, target: str) -> RangeCheck:
        """`verify`, its outcome as a `RangeCheck`; a rewritten history is a refusal too."""
        try:
            verdict = self.verify(trust_file, since=since, target=target)
        except HistoryRewritten as exc:
            return RangeCheck(target, since, False, "history_rewritten", str(exc))
        if verdict.trusted:
            return RangeCheck(target, since, True, signers=tuple(sorted(verdict.signers)))
        untrusted = verdict.untrusted
        commits = tuple(
            {
                "sha": c.sha,
                "reason": str(c.reason),
                "detail": c.detail,
                "signer": c.signer,
                "path": c.path,
            }
            for c in untrusted
        )
        first = untrusted[0]
        what = "tag" if verdict.tag is not None and first is verdict.tag else "commit"
        detail = f"{what} {first.sha[:12]}: {first.reason}" + (
            f": {first.detail}" if first.detail else ""
        )
        return RangeCheck(target, since, False, "untrusted", detail, commits=commits)

    def export(self, commit: str, path: str, dest: Path) -> Path:
        """Write the files under `path` at `commit` into `dest`; the folder holding them."""
        clean = path.strip("/") or "."
        spec = [] if clean == "." else ["--", clean]
        self._check_tree(commit, clean, spec)
        archive = self._git(["archive", "--format=tar", commit, *spec], commit, clean)
        dest.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
                members = tar.getmembers()
                for member in members:
                    parts = PurePosixPath(member.name).parts
                    if PurePosixPath(member.name).is_absolute() or ".." in parts:
                        raise ExportError(f"{member.name}: a path outside the repository")
                    if not (member.isfile() or member.isdir()):
                        raise ExportError(f"{member.name}: neither a file nor a folder")
                extract(tar, dest, members)
        except tarfile.TarError as exc:
            raise ExportError(f"cannot export {clean} at {commit[:12]}: {exc}") from exc
        target = dest if clean == "." else dest / clean
        if not target.is_dir():
            raise ExportError(f"{self.url}: no folder {clean} at {commit[:12]}")
        return target

    def _check_tree(self, commit: str, clean: str, spec: list[str]) -> None:
        listing = self._git(["ls-tree", "-r", "-l", "-z", commit, *spec], commit, clean)
        count = total = 0
        for entry in listing.split(b"\0"):
            if not entry:
                continue
            info, _, raw_name = entry.partition(b"\t")
            mode, kind, _, size = info.split()
            name = raw_name.decode("utf-8", "replace")
            if mode == b"120000":
                raise ExportError(f"{name}: a symbolic link; policy sources hold files only")
            if kind != b"blob":
                raise ExportError(f"{name}: a {kind.decode()} (submodule); files only")
            count += 1
            total += int(size)
            if int(size) > self._limits.max_file_bytes:
                raise ExportError(
                    f"{name}: {int(size)} bytes, over {self._limits.max_file_bytes} per file"
                )
        if count == 0 and clean != ".":
            raise ExportError(f"{self.url}: no folder {clean} at {commit[:12]}")
        if count > self._limits.max_files or total > self._limits.max_total_bytes:
            raise ExportError(
                f"{clean} at {commit[:12]}: {count} files, {total} bytes: over the limits "
                f"({self._limits.max_files} files, {self._limits.max_total_bytes} bytes)"
            )

    def _git(self, args: list[str], commit: str, clean: str) -> bytes:
        git_dir = self.repository.git_dir
        done = subprocess.run([*git_command(git_dir), *args], capture_output=True, check=False)
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip()
            raise RepositoryError(f"cannot read {clean} at {commit[:12]}: {message}")
        return done.stdout
