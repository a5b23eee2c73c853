"""The demo's Git repository: real commits made with `git commit`, signed with gpg or ssh-keygen."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from gatekeeper.demo.keys import OpenPgpKey, SshKey, run_tool

Author = OpenPgpKey | SshKey | None


def _isolated_env(base: Mapping[str, str]) -> dict[str, str]:
    """The user's own Git configuration (signing defaults, hooks) must not change the story."""
    return {**base, "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1"}


@dataclass(frozen=True)
class DemoRepo:
    """A working repository on branch `main`."""

    path: Path

    @classmethod
    def init(cls, path: Path) -> DemoRepo:
        path.mkdir(parents=True, exist_ok=True)
        run_tool(["git", "init", "-q", "-b", "main", str(path)], env=_isolated_env(os.environ))
        return cls(path)

    def git(self, *args: str, env: Mapping[str, str] | None = None) -> str:
        out = run_tool(["git", "-C", str(self.path), *args], env=_isolated_env(env or os.environ))
        return out.decode().strip()

    @property
    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def commit(self, files: Mapping[str, str], *, author: Author, message: str) -> str:
        """Write `files`, commit them as `author` (signed with their key; None: unsigned)."""
        for name, content in files.items():
            target = self.path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(content)
        self.git("add", "-A")
        if isinstance(author, OpenPgpKey):
            who, email, env = author.name, author.email, author.env
            signing = ["-c", "gpg.format=openpgp", "-c", f"user.signingkey={author.fingerprint}!"]
            sign = ["-S"]
        elif isinstance(author, SshKey):
            who, email, env = author.name, author.email, dict(os.environ)
            signing = ["-c", "gpg.format=ssh", "-c", f"user.signingkey={author.private_path}"]
            sign = ["-S"]
        else:
            who, email, env = "Mallory", "mallory@example.com", dict(os.environ)
            signing, sign = [], ["--no-gpg-sign"]
        identity = ["-c", f"user.name={who}", "-c", f"user.email={email}"]
        self.git(*identity, *signing, "commit", "-q", *sign, "-m", message, env=env)
        return self.head

    def reset(self, commit: str) -> None:
        """Move `main` back to `commit`, as a maintainer force-pushing a cleaned history would."""
        self.git("reset", "-q", "--hard", commit)

    def changed_paths(self, commit: str) -> list[str]:
        return self.git("show", "--name-only", "--format=", commit).splitlines()
