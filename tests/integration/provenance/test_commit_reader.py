"""The streaming commit reader against git itself, on commits git's own tools would not write.

`git verify-commit` hands the payload and the signature it split off to the signing program;
a stand-in program records them, and they must be what the reader returns for each commit.
"""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime
from pathlib import Path

import pytest

from gatekeeper.provenance import GitRepository, RepositoryError, verify_range
from tests.fixtures.gitrepo import PolicyWriter

pytestmark = pytest.mark.integration

_RECORDER = """#!/bin/sh
while [ $# -gt 0 ]; do
  if [ "$1" = "--verify" ]; then cp "$2" "$RECORD_DIR/signature"; fi
  shift
done
cat > "$RECORD_DIR/payload"
exit 1
"""
_SIG = (
    b"-----BEGIN PGP SIGNATURE-----\n\niHUEABYKAB0WIQ\n  two spaces kept\n=abcd\n"
    b"-----END PGP SIGNATURE-----"
)


def _git(
    repo: Path, *args: str, stdin: bytes | None = None, env: dict[str, str] | None = None
) -> bytes:
    done = subprocess.run(
        ["git", "-C", str(repo), *args], input=stdin, capture_output=True, env=env, check=False
    )
    if done.returncode != 0 and "verify-commit" not in args:
        raise AssertionError(done.stderr.decode())
    return done.stdout


def _header(name: bytes, value: bytes) -> bytes:
    return name + b" " + value.replace(b"\n", b"\n ") + b"\n"


def _write(repo: Path, tree: str, parents: list[str], extra: bytes, message: bytes) -> str:
    head = f"tree {tree}\n".encode() + b"".join(f"parent {p}\n".encode() for p in parents)
    who = b"A U Thor <author@example.com> 1700000000 +0100"
    head += b"author " + who + b"\ncommitter C Ommitter <c@example.com> 1700000123 -0230\n"
    raw = head + extra + b"\n" + message
    out = _git(repo, "hash-object", "-t", "commit", "-w", "--literally", "--stdin", stdin=raw)
    return out.decode().strip()


@pytest.fixture
def tricky(tmp_path: Path) -> tuple[Path, list[str]]:
    """A history of odd but valid commits, the last one a merge; their names, oldest first."""
    repo = tmp_path / "repo"
    subprocess.run(["git", "init", "-q", "--bare", str(repo)], check=True)
    tree = _git(repo, "hash-object", "-t", "tree", "-w", "--stdin", stdin=b"").decode().strip()
    sig = _header(b"gpgsig", _SIG)
    other = _header(b"gpgsig-sha256", _SIG.replace(b"iHUE", b"OTHER"))
    mergetag = _header(b"mergetag", b"object 1234\ntype commit\ntag v1\n\nnote\n" + _SIG)
    made: list[str] = []

    def add(extra: bytes, message: bytes, parents: list[str] | None = None) -> None:
        made.append(_write(repo, tree, made[-1:] if parents is None else parents, extra, message))

    add(b"", b"root, no newline at the end")
    add(sig, b"signed\n\nbody\ngpgsig not a header\n\n\n")
    add(b"encoding ISO-8859-1\n" + sig, "caf\u00e9 cr\u00e8me\n".encode("latin-1"))
    add(other + sig, b"both signature headers, the other object format's first\n")
    add(other, b"only the other object format's signature\n")
    add(b"x-custom one\n two\n" + sig + b"gpgsigx trailing\n", b"unknown headers\r\n")
    add(sig, b"large\n" + b"0123456789abcdef" * 9000)
    side = _write(repo, tree, [made[0]], sig, b"side\n")
    add(mergetag + sig, b"merge\n", parents=[made[-1], side])
    _git(repo, "update-ref", "refs/heads/main", made[-1])
    return repo, made


def _git_split(repo: Path, sha: str, tmp_path: Path) -> tuple[bytes | None, bytes | None]:
    """(payload, signature) as `git verify-commit` passed them on, or Nones if it did not."""
    record = tmp_path / f"record-{sha}"
    record.mkdir()
    program = tmp_path / "recorder.sh"
    if not program.exists():
        program.write_text(_RECORDER)
        program.chmod(0o755)
    env = {**os.environ, "RECORD_DIR": str(record)}
    _git(repo, "-c", f"gpg.program={program}", "verify-commit", sha, env=env)
    payload, signature = record / "payload", record / "signature"
    return (
        payload.read_bytes() if payload.exists() else None,
        signature.read_bytes() if signature.exists() else None,
    )


def test_the_reader_returns_the_payload_and_signature_git_verifies_for_each_commit(
    tricky: tuple[Path, list[str]], tmp_path: Path
) -> None:
    repo, _ = tricky
    listed = _git(repo, "rev-list", "--topo-order", "--reverse", "main").decode().split()
    commits = list(GitRepository(repo).range_commits("main"))
    assert [c.sha for c in commits] == listed
    signed = 0
    for commit in commits:
        payload, signature = _git_split(repo, commit.sha, tmp_path)
        assert commit.signature == signature, commit.sha
        if signature is not None:
            signed += 1
            assert commit.payload == payload, commit.sha
        else:
            raw = _git(repo, "cat-file", "commit", commit.sha)
            assert b"\ngpgsig " not in raw.partition(b"\n\n")[0]
        parents = _git(repo, "log", "-1", "--format=%P", commit.sha).decode().split()
        assert list(commit.parents) == parents
        seconds = int(_git(repo, "log", "-1", "--format=%ct", commit.sha))
        assert commit.time == datetime.fromtimestamp(seconds, UTC)
    assert signed == len(commits) - 2  # the root and the one with only a sha256 signature


def test_the_reader_and_the_per_object_reader_agree(tricky: tuple[Path, list[str]]) -> None:
    repo, made = tricky
    git = GitRepository(repo)
    assert list(git.range_commits("main")) == git.read_commits(git.rev_list("main"))
    walked = list(git.range_commits("main", ordered=False))
    assert sorted(walked, key=lambda c: c.sha) == sorted(
        git.read_commits(git.rev_list("main")), key=lambda c: c.sha
    )
    assert [c.sha for c in git.range_commits("main", [made[3]])] == git.rev_list("main", [made[3]])


def test_the_reader_says_what_git_said_when_the_range_is_bad(
    tricky: tuple[Path, list[str]],
) -> None:
    repo, _ = tricky
    with pytest.raises(RepositoryError, match=r"rev-list failed: .*no-such-branch"):
        list(GitRepository(repo).range_commits("no-such-branch"))


def test_strict_verdicts_come_parents_first_as_git_lists_the_range(
    tricky: tuple[Path, list[str]], write_policy: PolicyWriter
) -> None:
    repo, made = tricky
    listed = _git(repo, "rev-list", "--topo-order", "--reverse", "main").decode().split()
    result = verify_range(GitRepository(repo), write_policy(), since=None, target="main")
    assert [c.sha for c in result.commits] == listed
    assert not result.trusted  # the signatures are not real ones
    since = verify_range(GitRepository(repo), write_policy(), since=made[2], target="main")
    later = _git(repo, "rev-list", "--topo-order", "--reverse", "main", f"^{made[2]}")
    assert [c.sha for c in since.commits] == later.decode().split()
    assert len(since.commits) == len(made) - 2  # the side branch's commit is new too
