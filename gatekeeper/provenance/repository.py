"""The Git adapter: clone/fetch with full history, resolve revisions, read commits in bulk."""

from __future__ import annotations

import io
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import git
from git import exc as git_exc

from gatekeeper.provenance.errors import RepositoryError
from gatekeeper.provenance.objects import ObjectFormatError, SignedObject, parse_commit, parse_tag
from gatekeeper.provenance.remote import Credentials, run_git

# `refs/replace/*` would let a pushed ref swap an object's content for another's behind its
# name (`git replace`): every read of a source's objects ignores them, and none are kept.
NO_REPLACE = "--no-replace-objects"


def git_command(git_dir: Path) -> list[str]:
    """The start of every git command line that reads the repository at `git_dir`."""
    return ["git", NO_REPLACE, "--git-dir", str(git_dir)]


# A full SHA-1 or SHA-256 object name, an abbreviated one, and a plain branch or tag name.
_FULL_NAME = re.compile(r"[0-9a-fA-F]{40}|[0-9a-fA-F]{64}")
_ABBREVIATED = re.compile(r"[0-9a-fA-F]{4,64}")
_PLAIN = re.compile(r"[^~^:@{}\\\s*?\[]+")

# Raw `git log` settings that must not depend on the user's configuration.
_LOG_CONFIG = (
    "-c",
    "log.showRoot=true",
    "-c",
    "core.quotePath=false",
    "-c",
    "log.showSignature=false",
)


@dataclass(frozen=True, slots=True)
class CommitRecord:
    """A commit as verification needs it: the signed object and the paths it changes."""

    obj: SignedObject
    paths: tuple[str, ...]

    @property
    def sha(self) -> str:
        return self.obj.sha


@dataclass(frozen=True, slots=True)
class FetchedRef:
    """The commit a ref names, and the annotated tag object it names on the way, if any."""

    commit: str
    tag: str | None = None

    def verify_target(self, commit: str) -> str:
        """What to verify for `commit`: the tag, when `commit` is the tag's (its own signature
        must be trusted too), else the commit itself."""
        return self.tag if self.tag is not None and commit == self.commit else commit


class GitRepository:
    """A local repository with its full history, read through GitPython and git plumbing."""

    def __init__(self, path: Path | str) -> None:
        try:
            self._repo = git.Repo(str(path))
        except (git_exc.NoSuchPathError, git_exc.InvalidGitRepositoryError) as exc:
            raise RepositoryError(f"{path}: not a Git repository") from exc
        self._repo.git.update_environment(GIT_NO_REPLACE_OBJECTS="1")
        self.git_dir = Path(self._repo.git_dir)

    @classmethod
    def clone(
        cls,
        url: str,
        dest: Path,
        *,
        credentials: Credentials | None = None,
        timeout: float | None = None,
    ) -> GitRepository:
        """Clone `url` (URL or local path) into `dest` as a bare mirror, or fetch if it exists.

        `credentials` reach a private remote (`remote`); a failure is a `RemoteError`."""
        if (dest / "HEAD").exists() or (dest / ".git").exists():
            repo = cls(dest)
            repo.fetch(credentials=credentials, timeout=timeout, url=url)
            return repo
        run_git(
            ["clone", "--mirror", "--no-local", "--quiet", "--", url, str(dest)],
            url=url,
            credentials=credentials,
            timeout=timeout,
            what="clone",
        )
        repo = cls(dest)
        repo.drop_replacements()
        return repo

    def fetch(
        self,
        remote: str = "origin",
        *,
        credentials: Credentials | None = None,
        timeout: float | None = None,
        url: str | None = None,
    ) -> None:
        """Fetch every ref of `remote`; a shallow repository is deepened to its full history.

        `url` is the remote's URL, which `credentials` are given for (default: as configured)."""
        args = ["--prune", "--tags", "--force"]
        if self.is_shallow:
            args.append("--unshallow")
        target = url or self._remote_url(remote)
        run_git(
            ["--git-dir", str(self.git_dir), "fetch", "--quiet", *args, "--", remote],
            url=target,
            credentials=credentials,
            timeout=timeout,
            what="fetch",
        )
        self.drop_replacements()

    def drop_replacements(self) -> None:
        """Delete any `refs/replace/*` a mirror fetched: they are ignored, and now gone too."""
        names = self._run(["for-each-ref", "--format=%(refname)", "refs/replace/"]).split()
        if names:
            self._run(["update-ref", "--stdin"], stdin=b"".join(b"delete %s\n" % n for n in names))

    def _remote_url(self, remote: str) -> str:
        try:
            return str(self._repo.remote(remote).url)
        except ValueError as exc:
            raise RepositoryError(f"{self.git_dir}: no remote named {remote!r}") from exc

    @property
    def is_shallow(self) -> bool:
        return (self.git_dir / "shallow").exists()

    def require_full_history(self) -> None:
        if self.is_shallow:
            raise RepositoryError(
                f"{self.git_dir}: a shallow clone; provenance needs the full history"
            )

    def resolve(self, rev: str, *, refs: bool = True) -> str:
        """The full SHA of the commit `rev` names (`object_name`), a tag peeled to its commit."""
        name = self.object_name(rev, refs=refs)
        try:
            sha: str = self._repo.git.rev_parse(
                "--verify", "--end-of-options", f"{name}^{{commit}}"
            )
        except git_exc.GitCommandError as exc:
            raise RepositoryError(f"cannot resolve {rev!r} to a commit") from exc
        return sha

    def fetched_ref(self, rev: str) -> FetchedRef:
        """The commit `rev` names and the annotated tag it names on the way, `rev` resolved
        once (`object_name`)."""
        name = self.object_name(rev)
        return FetchedRef(self.resolve(name), self.annotated_tag(name))

    def annotated_tag(self, rev: str) -> str | None:
        """The SHA of the annotated tag object `rev` names, or None if it names none."""
        name = self.object_name(rev)
        try:
            kind = self._repo.git.cat_file("-t", name)
        except git_exc.GitCommandError:
            return None
        if kind != "tag":
            return None
        sha: str = self._repo.git.rev_parse("--verify", "--end-of-options", name)
        return sha

    def object_name(self, rev: str, *, refs: bool = True) -> str:
        """What `rev` names, spelled so that git cannot guess otherwise.

        Git's own guessing lets a pushed ref stand in for what a configuration meant: a tag
        `main` before the branch `main`, a branch named like an abbreviated SHA before the
        commit. Here a full SHA is that object; a plain name is the branch of that name, or
        else the tag; an abbreviated SHA is the one commit (or tag) it abbreviates, and when a
        branch or tag has the same name the choice is refused. With `refs=False` only an
        object name is accepted (`trustFrom`). `HEAD`, `refs/...` and revision expressions
        (`main~2`) are passed to git as written.
        """
        if _FULL_NAME.fullmatch(rev):
            return rev.lower()
        is_hex = bool(_ABBREVIATED.fullmatch(rev))
        if not refs and not is_hex:
            raise RepositoryError(f"{rev!r} is not a commit's SHA (4 to 64 hexadecimal digits)")
        if refs and (rev == "HEAD" or rev.startswith("refs/") or not _PLAIN.fullmatch(rev)):
            return rev
        found = self._named_refs(rev) if refs else []
        objects = self._abbreviates(rev) if is_hex else []
        if found and objects:
            raise RepositoryError(
                f"{rev!r} is ambiguous: it abbreviates {objects[0][:12]} and names {found[0]}; "
                "write the full SHA or the full ref name"
            )
        if len(objects) > 1:
            shown = ", ".join(sha[:12] for sha in objects[:4])
            raise RepositoryError(f"{rev!r} is ambiguous: it abbreviates {shown}")
        if objects:
            return objects[0]
        if found:
            return found[0]
        what = "no branch, tag or commit" if refs else "no commit"
        raise RepositoryError(f"cannot resolve {rev!r}: {what} of that name")

    def _named_refs(self, name: str) -> list[str]:
        """`refs/heads/<name>` and `refs/tags/<name>` where they exist, the branch first."""
        wanted = (f"refs/heads/{name}", f"refs/tags/{name}")
        listed = self._run(["for-each-ref", "--format=%(refname)", *wanted]).decode().split()
        return [ref for ref in wanted if ref in listed]

    def _abbreviates(self, prefix: str) -> list[str]:
        """The commits and tags whose SHA starts with `prefix`."""
        try:
            out = self._run(["rev-parse", f"--disambiguate={prefix.lower()}"])
        except RepositoryError:
            return []
        candidates = out.decode().split()
        if not candidates:
            return []
        request = "".join(f"{sha}\n" for sha in candidates).encode()
        listing = self._run(["cat-file", "--batch-check"], stdin=request).decode().splitlines()
        return sorted(
            line.split()[0] for line in listing if line.split()[1:2] in (["commit"], ["tag"])
        )

    def has_object(self, sha: str) -> bool:
        """Whether the object store holds the object `sha` (a full object name) names."""
        try:
            self._repo.git.cat_file("-e", sha)
        except git_exc.GitCommandError as exc:
            if exc.status == 1:
                return False
            raise RepositoryError(f"cannot look {sha} up: {_stderr(exc)}") from exc
        return True

    def is_ancestor(self, ancestor: str, descendant: str) -> bool:
        """Whether `descendant` is `ancestor` or descends from it."""
        try:
            self._repo.git.merge_base("--is-ancestor", ancestor, descendant)
        except git_exc.GitCommandError as exc:
            if exc.status == 1:
                return False
            raise RepositoryError(f"cannot compare {ancestor} and {descendant}") from exc
        return True

    def parents(self, sha: str) -> tuple[str, ...]:
        line: str = self._repo.git.rev_list("--parents", "-n", "1", sha)
        return tuple(line.split()[1:])

    def read_objects(self, shas: Sequence[str]) -> Iterator[tuple[str, str, bytes]]:
        """(sha, type, raw bytes) of each object, through one `git cat-file --batch` process."""
        if not shas:
            return
        request = "".join(f"{sha}\n" for sha in shas).encode()
        out = self._run(["cat-file", "--batch"], stdin=request)
        offset = 0
        for _ in shas:
            end = out.index(b"\n", offset)
            header = out[offset:end].split()
            if len(header) != 3:
                raise RepositoryError(f"object {header[0].decode()} is missing")
            sha, kind, size = header[0].decode(), header[1].decode(), int(header[2])
            start = end + 1
            yield sha, kind, out[start : start + size]
            offset = start + size + 1

    def read_commits(self, shas: Sequence[str]) -> list[SignedObject]:
        return [_commit(sha, kind, raw) for sha, kind, raw in self.read_objects(shas)]

    def range_commits(
        self, target: str, exclude: Sequence[str] = (), *, ordered: bool = True
    ) -> Iterator[SignedObject]:
        """The commits `rev_list` names, parsed as they stream out of git.

        `git rev-list` feeds `git cat-file --batch` directly, so that the commits arrive while
        git still reads them and no list of names passes through this process. They come in
        `rev_list`'s order, or with `ordered=False` in the order git walks them (newest
        first, mostly), which starts at once instead of after the whole walk.
        """
        order = ["--topo-order", "--reverse"] if ordered else []
        listing = [*self._git, "rev-list", *order, target]
        listing += [*(f"^{sha}" for sha in exclude), "--"]
        with tempfile.TemporaryFile() as list_errors, tempfile.TemporaryFile() as read_errors:
            try:
                lister = subprocess.Popen(
                    listing, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=list_errors
                )
            except OSError as exc:
                raise RepositoryError(f"cannot run git: {exc}") from exc
            try:
                reader = subprocess.Popen(
                    [*self._git, "cat-file", "--batch"],
                    stdin=lister.stdout,
                    stdout=subprocess.PIPE,
                    stderr=read_errors,
                )
            except OSError as exc:
                _stop(lister)
                raise RepositoryError(f"cannot run git: {exc}") from exc
            assert lister.stdout is not None and reader.stdout is not None
            lister.stdout.close()  # cat-file holds it now; rev-list sees EPIPE if it dies
            try:
                for sha, kind, raw in _batch_stream(cast(io.BufferedReader, reader.stdout)):
                    yield _commit(sha, kind, raw)
                _finish(lister, list_errors, "rev-list")
                _finish(reader, read_errors, "cat-file")
            finally:
                _stop(reader)
                _stop(lister)

    def read_tag(self, sha: str) -> SignedObject:
        for found, kind, raw in self.read_objects([sha]):
            return _parsed(found, kind, raw, "tag", parse_tag)
        raise RepositoryError(f"tag {sha} is missing")

    def rev_list(self, target: str, exclude: Sequence[str] = ()) -> list[str]:
        """Commits reachable from `target` but not from `exclude`, parents before children."""
        args = ["rev-list", "--topo-order", "--reverse", target, *(f"^{sha}" for sha in exclude)]
        return self._run([*args, "--"]).decode("ascii").split()

    def changed_paths(self, target: str, exclude: Sequence[str] = ()) -> dict[str, tuple[str, ...]]:
        """Per commit reachable from `target` but not from `exclude`: the paths it changes.

        Merges are compared with their first parent, renames count as delete plus add (both
        paths), and the dict is ordered oldest first (parents before children).
        """
        with self.start_changed_paths(target, exclude) as pending:
            return pending.result()

    def start_changed_paths(self, target: str, exclude: Sequence[str] = ()) -> PendingPaths:
        """`changed_paths`, listed by git in the background while the caller goes on."""
        args = [
            *_LOG_CONFIG,
            "log",
            "--format=%x01%H",
            "--raw",
            "-z",
            "--no-renames",
            "--no-abbrev",
            "--diff-merges=first-parent",
            "--topo-order",
            "--reverse",
            target,
            *(f"^{sha}" for sha in exclude),
            "--",
        ]
        return PendingPaths([*self._git, *args])

    def tree_paths(self, sha: str) -> tuple[str, ...]:
        """Every file path in the tree of commit `sha`."""
        out = self._run(["ls-tree", "-r", "-z", "--name-only", sha])
        return tuple(p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p)

    def diff_paths(self, old: str, new: str) -> tuple[str, ...]:
        """The paths that differ between two commits' trees."""
        out = self._run(["diff-tree", "-r", "-z", "--no-renames", "--name-only", old, new])
        return tuple(sorted(p.decode("utf-8", "surrogateescape") for p in out.split(b"\0") if p))

    @property
    def _git(self) -> list[str]:
        return git_command(self.git_dir)

    def _run(self, args: list[str], stdin: bytes | None = None) -> bytes:
        cmd = [*self._git, *args]
        try:
            done = subprocess.run(cmd, input=stdin, capture_output=True, check=True)
        except subprocess.CalledProcessError as exc:
            message = exc.stderr.decode("utf-8", "replace").strip()
            raise RepositoryError(f"git {args[0]} failed: {message}") from exc
        except OSError as exc:
            raise RepositoryError(f"cannot run git: {exc}") from exc
        return done.stdout


class PendingPaths:
    """A `git log --raw` writing into a temporary file; `result()` waits for it and parses."""

    def __init__(self, cmd: list[str]) -> None:
        # Both files live as long as the command's result is pending: close() closes them.
        self._out = tempfile.TemporaryFile()  # noqa: SIM115
        self._errors = tempfile.TemporaryFile()  # noqa: SIM115
        self._proc: subprocess.Popen[bytes] | None = None
        try:
            self._proc = subprocess.Popen(
                cmd, stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._errors
            )
        except OSError as exc:
            self.close()
            raise RepositoryError(f"cannot run git: {exc}") from exc

    def result(self) -> dict[str, tuple[str, ...]]:
        assert self._proc is not None
        _finish(self._proc, self._errors, "log")
        self._out.seek(0)
        return _parse_raw_log(self._out.read())

    def close(self) -> None:
        if self._proc is not None:
            _stop(self._proc)
        self._out.close()
        self._errors.close()

    def __enter__(self) -> PendingPaths:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()


def _finish(proc: subprocess.Popen[bytes], errors: IO[bytes], what: str) -> None:
    """Wait for `proc`; RepositoryError with what it printed (into `errors`) when it failed."""
    if proc.wait() != 0:
        errors.seek(0)
        message = errors.read().decode("utf-8", "replace").strip()
        raise RepositoryError(f"git {what} failed: {message}")


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """End `proc` if it still runs (the caller gave up early) and reap it."""
    if proc.poll() is None:
        proc.kill()
    proc.wait()
    if proc.stdout is not None:
        proc.stdout.close()


# Bytes read from `git cat-file --batch` at a time, unless one object needs more.
_CHUNK = 1 << 16


def _batch_stream(stream: io.BufferedReader) -> Iterator[tuple[str, str, bytes]]:
    """(sha, type, raw bytes) of each object `git cat-file --batch` writes to `stream`."""
    buf = b""
    pos = 0
    need = _CHUNK
    while True:
        newline = buf.find(b"\n", pos)
        if newline != -1:
            header = buf[pos:newline].split()
            if len(header) != 3:
                name = header[0].decode("ascii", "replace") if header else "(empty)"
                raise RepositoryError(f"object {name} is missing")
            start = newline + 1
            stop = start + int(header[2])
            if stop < len(buf):  # the object and the newline after it are here
                yield header[0].decode("ascii"), header[1].decode("ascii"), buf[start:stop]
                pos = stop + 1
                continue
            need = max(_CHUNK, stop + 1 - len(buf))
        chunk = stream.read(need) if need > _CHUNK else stream.read1(_CHUNK)
        if not chunk:
            if pos < len(buf):
                raise RepositoryError("git cat-file stopped in the middle of an object")
            return
        buf = buf[pos:] + chunk
        pos = 0
        need = _CHUNK


def _commit(sha: str, kind: str, raw: bytes) -> SignedObject:
    return _parsed(sha, kind, raw, "commit", parse_commit)


def _parsed(
    sha: str,
    kind: str,
    raw: bytes,
    wanted: str,
    parse: Callable[[str, bytes], SignedObject],
) -> SignedObject:
    """The object `sha` parsed, when it is of the kind wanted; RepositoryError otherwise."""
    if kind != wanted:
        raise RepositoryError(f"{sha} is a {kind}, not a {wanted}")
    try:
        return parse(sha, raw)
    except ObjectFormatError as exc:
        raise RepositoryError(str(exc)) from exc


def _parse_raw_log(out: bytes) -> dict[str, tuple[str, ...]]:
    result: dict[str, tuple[str, ...]] = {}
    current: str | None = None
    paths: list[str] = []
    tokens = iter(out.split(b"\0"))
    for raw in tokens:
        token = raw.lstrip(b"\n")
        if token.startswith(b"\x01"):
            if current is not None:
                result[current] = tuple(sorted(set(paths)))
            current, paths = token[1:].decode("ascii"), []
        elif token.startswith(b":"):
            path = next(tokens, b"")
            paths.append(path.decode("utf-8", "surrogateescape"))
    if current is not None:
        result[current] = tuple(sorted(set(paths)))
    return result


def _stderr(exc: git_exc.GitCommandError) -> str:
    text = exc.stderr if isinstance(exc.stderr, str) else str(exc.stderr)
    return text.strip().removeprefix("stderr: ").strip("'").strip()
