"""`git replace` cannot swap what a signed commit holds: replacement refs are neither fetched
into a mirror nor honoured when a repository's objects are read, verified or exported."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gatekeeper.provenance import GitRepository, VerifiedCheckout, verify_range
from gatekeeper.reconcile.gitsource import GitMirror
from tests.fixtures.gitrepo import (
    Keys,
    PolicyWriter,
    SignedRepo,
    standard_signers,
    trust_policy_yaml,
)

pytestmark = pytest.mark.integration


def _swap_blob(repo: SignedRepo, commit: str, path: str, content: bytes) -> str:
    """Replace the blob at `path` in `commit` by an unsigned blob holding `content`."""
    original = repo.git("rev-parse", f"{commit}:{path}")
    forged = repo.git("hash-object", "-w", "--stdin", stdin=content)
    repo.git("replace", original, forged)
    assert repo.git("show", f"{commit}:{path}") == content.decode().strip()
    return forged


def _git(git_dir: Path, *args: str, stdin: bytes | None = None) -> str:
    done = subprocess.run(
        ["git", "--git-dir", str(git_dir), *args], input=stdin, capture_output=True, check=True
    )
    return done.stdout.decode().strip()


def _trust(tmp_path: Path, keys: Keys) -> Path:
    path = tmp_path / "trust.yaml"
    path.write_text(
        trust_policy_yaml(
            signers=standard_signers(keys),
            rules=[{"paths": ["**"], "signers": ["alice", "bob"]}],
        )
    )
    return path


def _mirror(repo: SignedRepo, tmp_path: Path, keys: Keys) -> GitMirror:
    return GitMirror(
        url=str(repo.path),
        ref="main",
        trust_file=_trust(tmp_path, keys),
        cache_dir=tmp_path / "cache",
    )


def test_a_mirror_keeps_no_replacement_and_exports_the_signed_content(
    tmp_path: Path, keys: Keys, signed_repo: SignedRepo
) -> None:
    head = signed_repo.commit({"apps/a.yaml": "replicas: 1\n"}, signer=keys.signer("alice"))
    _swap_blob(signed_repo, head, "apps/a.yaml", b"replicas: 99\n")
    source = _mirror(signed_repo, tmp_path, keys)
    assert source.fetch() == head
    assert "refs/replace/" not in _git(source.git_dir, "for-each-ref", "--format=%(refname)")
    assert source.verify(since=None, target=head).trusted
    folder = source.export(head, ".", tmp_path / "out")
    assert (folder / "apps" / "a.yaml").read_text() == "replicas: 1\n"


def test_a_replacement_fetched_later_is_dropped_too(
    tmp_path: Path, keys: Keys, signed_repo: SignedRepo
) -> None:
    head = signed_repo.commit({"p/a.rego": "package a\n"}, signer=keys.signer("bob"))
    checkout = VerifiedCheckout(url=str(signed_repo.path), ref="main", cache_dir=tmp_path / "c")
    assert checkout.fetch() == head
    _swap_blob(signed_repo, head, "p/a.rego", b"package evil\n")
    assert checkout.fetch() == head
    folder = checkout.export(head, "p", tmp_path / "out")
    assert (folder / "a.rego").read_text() == "package a\n"


def test_a_repository_with_replacements_is_read_as_written(
    tmp_path: Path, keys: Keys, signed_repo: SignedRepo, write_policy: PolicyWriter
) -> None:
    """A local repository (`gatekeeper verify` on a working copy) may hold replacements: the
    verdict, the paths and the commits read are those of the objects as signed."""
    signed = signed_repo.commit({"apps/a.yaml": "a: 1\n"}, signer=keys.signer("alice"))
    unsigned = signed_repo.commit({"apps/b.yaml": "b: 1\n"}, signer=None)
    # The unsigned head made to read as the signed commit's bytes would pass as trusted.
    signed_repo.git("replace", unsigned, signed)
    repo = GitRepository(signed_repo.path)
    (read,) = repo.read_commits([unsigned])
    assert read.signature is None
    assert read.sha == unsigned
    verdict = verify_range(repo, write_policy(), since=signed, target=unsigned)
    assert not verdict.trusted
    assert repo.tree_paths(unsigned) == ("apps/a.yaml", "apps/b.yaml")


def test_an_archive_of_a_repository_with_replacements_holds_the_signed_bytes(
    tmp_path: Path, keys: Keys, signed_repo: SignedRepo
) -> None:
    head = signed_repo.commit({"apps/a.yaml": "a: 1\n"}, signer=keys.signer("alice"))
    _swap_blob(signed_repo, head, "apps/a.yaml", b"a: 2\n")
    source = _mirror(signed_repo, tmp_path, keys)
    source.fetch()
    # Even a replacement written into the mirror itself is not honoured.
    forged = _git(source.git_dir, "hash-object", "-w", "--stdin", stdin=b"a: 3\n")
    original = _git(source.git_dir, "rev-parse", f"{head}:apps/a.yaml")
    _git(source.git_dir, "update-ref", f"refs/replace/{original}", forged)
    folder = source.export(head, "apps", tmp_path / "out")
    assert (folder / "a.yaml").read_text() == "a: 1\n"
