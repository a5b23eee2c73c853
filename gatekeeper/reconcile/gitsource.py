"""The Git side of a source: a local mirror, the commit a ref names, range checks, exports.

A source renders from the whole commit, as Argo CD and Flux do: its `path` is only the entry
point, and a Kustomize overlay may reach the shared base beside it. So the whole tree is
exported, and checked before it is written: its files must stay within `reconciler.limits`
(their number, each one's size and their total, read from the tree before anything is
archived), and a symbolic link must point inside the repository. An absolute link or one that
climbs out (`../../etc/passwd`) under the source's folder is refused with a `RenderError`
naming it; one elsewhere is not written at all (`exportable`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import posixpath
import subprocess
import tarfile
from pathlib import Path, PurePosixPath
from typing import Protocol

from gatekeeper.provenance import (
    GitRepository,
    ProvenanceError,
    RangeVerdict,
    load_trust_policy,
    verify_range,
)
from gatekeeper.provenance.extract import extract
from gatekeeper.provenance.remote import RemoteError, load_credentials
from gatekeeper.provenance.repository import FetchedRef, git_command
from gatekeeper.reconcile.errors import ReconcileError, RenderError, SourceUnavailable
from gatekeeper.settings import ReconcilerLimits, SourceCredentials

log = logging.getLogger(__name__)


class GitPort(Protocol):
    """What the reconciler needs from Git for one source."""

    def fetch(self) -> str:
        """Bring the mirror up to date; the full SHA the source's ref names now."""
        ...

    @property
    def tag(self) -> str | None:
        """The annotated tag object the ref named at the last fetch, or None."""
        ...

    def verify(self, *, since: str | None, target: str) -> RangeVerdict:
        """The provenance verdict on what a sync from `since` to `target` brings, with the
        annotated tag the ref names when `target` is its commit."""
        ...

    def export(self, commit: str, path: str, dest: Path) -> Path:
        """Write the whole tree of `commit` under `dest`; the directory of `path` in it."""
        ...

    def resolve(self, rev: str) -> str:
        """The full SHA of a commit named by (a prefix of) its SHA, a branch or a tag."""
        ...

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether `descendant` is `ancestor` or descends from it (`ReconcileError` when the
        repository lacks either)."""
        ...


class GitMirror:
    """A bare mirror of a source's repository in a cache folder, verified by a trust policy."""

    def __init__(
        self,
        *,
        url: str,
        ref: str,
        trust_file: Path,
        cache_dir: Path,
        limits: ReconcilerLimits | None = None,
        credentials: SourceCredentials | None = None,
        fetch_timeout: float | None = None,
    ) -> None:
        self._url = url
        self._credentials = credentials
        self._fetch_timeout = fetch_timeout
        self._limits = limits or ReconcilerLimits()
        self._ref = ref
        self._trust_file = trust_file
        name = hashlib.sha256(url.encode()).hexdigest()[:16]
        self._dir = cache_dir / name
        self._repo: GitRepository | None = None
        self._fetched: FetchedRef | None = None  # what the ref named at the last fetch

    @property
    def git_dir(self) -> Path:
        return self._dir

    def fetch(self) -> str:
        """Credentials are read afresh for each fetch, so a rotated Secret takes effect."""
        try:
            credentials = load_credentials(self._credentials)
            timeout = self._fetch_timeout
            if self._repo is None:
                self._dir.parent.mkdir(parents=True, exist_ok=True)
                self._repo = GitRepository.clone(
                    self._url, self._dir, credentials=credentials, timeout=timeout
                )
            else:
                self._repo.fetch(credentials=credentials, timeout=timeout, url=self._url)
        except RemoteError as exc:
            raise SourceUnavailable(f"{exc} ({self._ref})", reason=exc.reason) from exc
        except ProvenanceError as exc:
            raise SourceUnavailable(f"cannot fetch {self._url} ({self._ref}): {exc}") from exc
        try:
            self._fetched = self._repo.fetched_ref(self._ref)
        except ProvenanceError as exc:
            raise ReconcileError(f"cannot fetch {self._url} ({self._ref}): {exc}") from exc
        return self._fetched.commit

    @property
    def tag(self) -> str | None:
        return self._fetched.tag if self._fetched is not None else None

    def _repository(self) -> GitRepository:
        if self._repo is None:
            self.fetch()
        assert self._repo is not None
        return self._repo

    def verify(self, *, since: str | None, target: str) -> RangeVerdict:
        """When the ref names an annotated tag and `target` is its commit, the tag's own
        signature must be trusted too: the tag object fetched is verified, not its commit
        alone (a ref is only read at fetch time, so a tag moved since cannot slip in)."""
        repo = self._repository()
        policy = load_trust_policy(self._trust_file)
        named = self._fetched.verify_target(target) if self._fetched is not None else target
        return verify_range(repo, policy, since=since, target=named)

    def resolve(self, rev: str) -> str:
        """The full SHA of a commit named by SHA (or a prefix), branch or tag."""
        try:
            return self._repository().resolve(rev)
        except ProvenanceError as exc:
            raise ReconcileError(f"{rev!r} names no commit of {self._url}") from exc

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        try:
            return self._repository().is_ancestor(ancestor, descendant)
        except ProvenanceError as exc:
            raise ReconcileError(
                f"cannot tell whether {descendant[:12]} descends from {ancestor[:12]} in "
                f"{self._url}: {exc}"
            ) from exc

    def export(self, commit: str, path: str, dest: Path) -> Path:
        clean = entry_path(path)
        left_out = self._check_sizes(commit, clean)
        excludes = [f":(exclude,literal){name}" for name in left_out]
        spec = ["--", ".", *excludes] if excludes else []
        done = subprocess.run(
            [*git_command(self._dir), "archive", "--format=tar", commit, *spec],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip()
            raise RenderError(f"cannot export {commit[:12]}: {message}")
        dest.mkdir(parents=True, exist_ok=True)
        try:
            with tarfile.open(fileobj=io.BytesIO(done.stdout)) as archive:
                members = exportable(archive.getmembers(), clean)
                extract(archive, dest, members)
        except tarfile.TarError as exc:
            raise RenderError(f"cannot export {commit[:12]}: {exc}") from exc
        drop_escaping_links(dest, members, clean)
        return dest if clean == "." else dest / clean

    def _check_sizes(self, commit: str, entry: str) -> list[str]:
        """Refuse an export too large before archiving it (the tree lists every blob's size);
        the files over the per-file limit outside `entry`, which are left out."""
        done = subprocess.run(
            [*git_command(self._dir), "ls-tree", "-r", "-l", "-z", commit],
            capture_output=True,
            check=False,
        )
        if done.returncode != 0:
            message = done.stderr.decode("utf-8", "replace").strip()
            raise RenderError(f"cannot export {commit[:12]}: {message}")
        return check_sizes(_blobs(done.stdout), self._limits, entry)


def entry_path(path: str) -> str:
    """A source's `path` as a clean repository path ("." for the root); `RenderError` when it
    leaves the repository."""
    clean = posixpath.normpath(path.strip("/") or ".")
    if clean == ".." or clean.startswith("../"):
        raise RenderError(f"path {path!r} leaves the repository")
    return clean


def _blobs(listing: bytes) -> list[tuple[str, int]]:
    """(path, size) of each blob of `git ls-tree -r -l -z` output."""
    found: list[tuple[str, int]] = []
    for entry in listing.split(b"\0"):
        if not entry:
            continue
        info, _, name = entry.partition(b"\t")
        fields = info.split()
        if len(fields) == 4 and fields[1] == b"blob":
            found.append((name.decode("utf-8", "replace"), int(fields[3])))
    return found


def check_sizes(
    blobs: list[tuple[str, int]], limits: ReconcilerLimits, entry: str = "."
) -> list[str]:
    """`RenderError` when the files under the source's folder `entry` break `limits`; the
    names of the files elsewhere that are left out of the export.

    Only what lies under the source's folder can reject the source: its files count against
    `maxFiles`, `maxFileBytes` and `maxTotalBytes`, and the first that breaks one is named.
    Files elsewhere (bases, charts, other teams' folders) are exported while the limits leave
    room, smallest first, so that one team's oversized or overgrown folder rejects only the
    sources it holds; a render that reaches a file left out finds nothing there."""
    prefix = "" if entry == "." else entry.rstrip("/") + "/"
    inside = [(n, size) for n, size in blobs if n == entry or n.startswith(prefix)]
    outside = [(n, size) for n, size in blobs if not (n == entry or n.startswith(prefix))]
    if len(inside) > limits.max_files:
        raise RenderError(
            f"the source's folder has {len(inside)} files, over the limit of "
            f"{limits.max_files} (reconciler.limits.maxFiles)"
        )
    total = 0
    for name, size in inside:
        if size > limits.max_file_bytes:
            raise RenderError(
                f"{name}: {size} bytes, over the limit of {limits.max_file_bytes} per file "
                "(reconciler.limits.maxFileBytes)"
            )
        total += size
    if total > limits.max_total_bytes:
        raise RenderError(
            f"the files of the source's folder total {total} bytes, over the limit of "
            f"{limits.max_total_bytes} (reconciler.limits.maxTotalBytes)"
        )
    count = len(inside)
    left_out: list[str] = []
    for name, size in sorted(outside, key=lambda blob: (blob[1], blob[0])):
        fits = size <= limits.max_file_bytes and total + size <= limits.max_total_bytes
        if fits and count < limits.max_files:
            total += size
            count += 1
        else:
            left_out.append(name)
    if left_out:
        left_out.sort()
        log.warning(
            "left out of the export, over reconciler.limits: %s%s",
            ", ".join(left_out[:10]),
            f" and {len(left_out) - 10} more" if len(left_out) > 10 else "",
        )
    return left_out


def exportable(members: list[tarfile.TarInfo], entry: str) -> list[tarfile.TarInfo]:
    """The archive entries to write. An entry that would leave the repository (a symbolic
    link out of it) is a `RenderError` when it lies under the source's folder `entry`; one
    elsewhere is left out, so that a hostile link in one team's folder rejects that team's
    sources only, and a render that reaches it (a base, a link to it) finds nothing there."""
    kept: list[tarfile.TarInfo] = []
    for member in members:
        try:
            check_member(member, ".")
        except RenderError:
            if _under(member.name, entry):
                raise
            log.warning("%s: left out of the export: it leads outside the repository", member.name)
            continue
        kept.append(member)
    return kept


def _under(name: str, entry: str) -> bool:
    """Whether the archive entry `name` lies in the source's folder `entry` ("." the root)."""
    return entry in (".", name) or name.startswith(entry.rstrip("/") + "/")


def drop_escaping_links(dest: Path, members: list[tarfile.TarInfo], entry: str) -> None:
    """Check every extracted symbolic link where it now lies, through the links beside it.

    A link is checked on its own text before extraction (`check_member`), but links chain:
    `u -> ..` stays inside, and so does the text of `x -> u/u/../../etc`, yet together they
    reach outside the export. Once all are written, a link whose real target leaves `dest`
    is a `RenderError` under the source's folder `entry`, and deleted elsewhere."""
    root = Path(os.path.realpath(dest))
    escaping = [
        member.name
        for member in members
        if member.issym() and not Path(os.path.realpath(dest / member.name)).is_relative_to(root)
    ]
    for name in escaping:
        if _under(name, entry):
            raise RenderError(f"{name}: a symbolic link that leads outside the repository")
    for name in escaping:
        log.warning("%s: left out of the export: it leads outside the repository", name)
        (dest / name).unlink(missing_ok=True)


def check_member(member: tarfile.TarInfo, root: str) -> None:
    """`RenderError` unless an archive entry is a file, a folder, or a link that stays under
    `root` (the source's path; "." for the whole repository)."""
    name = member.name
    if PurePosixPath(name).is_absolute() or ".." in PurePosixPath(name).parts:
        raise RenderError(f"{name}: a path outside the repository")
    if member.isfile() or member.isdir():
        return
    if not member.issym():
        raise RenderError(f"{name}: neither a file, a folder nor a symbolic link")
    target = member.linkname
    if posixpath.isabs(target):
        raise RenderError(
            f"{name}: a symbolic link to the absolute path {target}, outside the repository"
        )
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(name), target))
    if resolved == ".." or resolved.startswith("../"):
        raise RenderError(f"{name}: a symbolic link to {target}, outside the repository")
    inside = root in (".", resolved) or resolved.startswith(root.rstrip("/") + "/")
    if not inside:
        raise RenderError(f"{name}: a symbolic link to {target}, outside the source's path {root}")
