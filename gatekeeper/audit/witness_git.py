"""The Git witness: a commit per checkpoint in a local repository, through the `git` command.

The `git` command rather than GitPython, which stays in the provenance package's adapter.
Writers on one machine (the webhook's workers, the reconciler, `audit checkpoint`) take turns
on a lock file in the repository's Git folder, so that their commits never race for the
index. Pushing the repository elsewhere is left to its own hooks or a job of its own.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from gatekeeper.audit.errors import WitnessError, WitnessUnavailable
from gatekeeper.audit.store import Checkpoint
from gatekeeper.audit.witness import FolderWitness, WitnessCopy, entry_name

LOCK_NAME = "gatekeeper-witness.lock"
# Used only when the repository and the user's Git configuration name nobody.
_IDENTITY = ("-c", "user.name=gatekeeper", "-c", "user.email=gatekeeper@localhost")


class GitWitness:
    """Entry files at the top of a repository's work tree, each committed on its own."""

    def __init__(self, path: Path, *, git: str = "git", timeout: float = 30.0) -> None:
        self.path = path
        self._git_command = git
        self._timeout = timeout
        self._files = FolderWitness(path)
        self._git_dir: Path | None = None
        self._identity: tuple[str, ...] = ()

    @property
    def location(self) -> str:
        return str(self.path)

    def write(self, checkpoint: Checkpoint) -> None:
        git_dir = self._repository()
        name = entry_name(checkpoint)
        with _locked(git_dir / LOCK_NAME):
            self._files.write(checkpoint)
            self._git("add", "--", name)
            # A retry finds the entry committed already: nothing is staged then.
            if self._git("diff", "--cached", "--quiet", "--", name, check=False) == 0:
                return
            message = (
                f"Checkpoint {checkpoint.id}: record {checkpoint.seq}\n\n"
                f"head {checkpoint.head_hash}\nkey {checkpoint.key_id}\n"
            )
            self._git("commit", "--quiet", "-m", message, "--", name, config=self._identity)

    def read(self) -> WitnessCopy:
        """The entries of the work tree as it is checked out."""
        return self._files.read()

    def close(self) -> None:
        """Nothing is held open."""

    def _repository(self) -> Path:
        """The repository's Git folder; an empty or missing folder is made a repository."""
        if self._git_dir is not None:
            return self._git_dir
        try:
            empty = not self.path.exists() or not any(self.path.iterdir())
        except OSError as exc:
            raise WitnessUnavailable(f"cannot read {self.path}: {exc.strerror}") from exc
        if empty:
            self.path.mkdir(parents=True, exist_ok=True)
            self._git("init", "--quiet")
        top = self._output("rev-parse", "--show-toplevel", error="is not a Git repository")
        if Path(top).resolve() != self.path.resolve():
            raise WitnessError(
                f"witness repository {self.path} is inside the repository {top}, not the top of one"
            )
        git_dir = Path(self._output("rev-parse", "--absolute-git-dir", error="has no Git folder"))
        if self._git("config", "user.email", check=False) != 0:
            self._identity = _IDENTITY
        self._git_dir = git_dir
        return git_dir

    def _output(self, *args: str, error: str) -> str:
        completed = self._run(args)
        if completed.returncode != 0:
            raise WitnessError(f"witness repository {self.path} {error}")
        return completed.stdout.strip()

    def _git(self, *args: str, check: bool = True, config: tuple[str, ...] = ()) -> int:
        completed = self._run(args, config)
        if check and completed.returncode != 0:
            detail = completed.stderr.strip() or completed.stdout.strip()
            raise WitnessUnavailable(f"git {args[0]} in {self.path} failed: {detail}")
        return completed.returncode

    def _run(
        self, args: tuple[str, ...], config: tuple[str, ...] = ()
    ) -> subprocess.CompletedProcess[str]:
        environment = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        try:
            return subprocess.run(
                [self._git_command, "-C", str(self.path), *config, *args],
                capture_output=True,
                text=True,
                timeout=self._timeout,
                env=environment,
                check=False,
            )
        except FileNotFoundError as exc:
            raise WitnessUnavailable(f"the git command ({self._git_command}) is missing") from exc
        except subprocess.TimeoutExpired as exc:
            raise WitnessUnavailable(
                f"git {args[0]} in {self.path} took more than {self._timeout:g} s"
            ) from exc
        except OSError as exc:
            raise WitnessUnavailable(f"cannot run git in {self.path}: {exc}") from exc


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    try:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise WitnessUnavailable(f"cannot open the lock file {path}: {exc.strerror}") from exc
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX)
        yield
    finally:
        os.close(descriptor)
