"""Objects git reads one way and a parser could read another are refused: a commit with two
committers, a tag with two taggers, a signature header that holds more than one signature."""

from __future__ import annotations

import base64
import time

import pytest

from gatekeeper.provenance import GitRepository, Reason, RepositoryError, verify_range
from tests.fixtures.gitrepo import Keys, PolicyWriter, SignedRepo, _insert_signature

pytestmark = pytest.mark.integration


def _now() -> str:
    """A commit time after the test keys were made (a key cannot sign before it exists)."""
    return f"{int(time.time()) + 5} +0000"


def _write(repo: SignedRepo, kind: str, raw: bytes) -> str:
    return repo.git("hash-object", "--literally", "-t", kind, "-w", "--stdin", stdin=raw)


def _commit_payload(repo: SignedRepo, headers: list[str]) -> bytes:
    tree = repo.git("write-tree")
    return ("\n".join([f"tree {tree}", *headers]) + "\n\nchange\n").encode()


def _alices_next_commit(repo: SignedRepo, keys: Keys) -> tuple[str, bytes]:
    """A signed base commit, and the payload of a child by alice still to be signed."""
    base = repo.commit({"a.yaml": "a: 1\n"}, signer=keys.signer("alice"))
    stamp = _now()
    headers = [
        f"parent {base}",
        f"author Dev <{keys.alice.email}> {stamp}",
        f"committer Dev <{keys.alice.email}> {stamp}",
    ]
    return base, _commit_payload(repo, headers)


def _armor(packets: bytes) -> bytes:
    body = base64.b64encode(packets)
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"\n".join(
        [b"-----BEGIN PGP SIGNATURE-----", b"", *lines, b"-----END PGP SIGNATURE-----"]
    )


def _dearmor(armored: bytes) -> bytes:
    lines = armored.strip().split(b"\n")
    blank = lines.index(b"")
    body = [line for line in lines[blank + 1 : -1] if not line.startswith(b"=")]
    return base64.b64decode(b"".join(body))


@pytest.mark.parametrize("header", ["committer", "author"])
def test_a_commit_with_two_identity_headers_is_refused(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter, header: str
) -> None:
    base = signed_repo.commit({"a.yaml": "a: 1\n"}, signer=keys.signer("alice"))
    stamp = _now()
    lines = [
        f"parent {base}",
        f"author Dev <{keys.alice.email}> {stamp}",
        f"committer Dev <{keys.alice.email}> {stamp}",
        f"{header} Mallory <mallory@example.com> 946684800 +0000",
    ]
    payload = _commit_payload(signed_repo, lines)
    sha = _write(
        signed_repo, "commit", _insert_signature(payload, keys.signer("alice").sign(payload, None))
    )
    with pytest.raises(RepositoryError, match=f"more than one {header}"):
        verify_range(GitRepository(signed_repo.path), write_policy(), since=base, target=sha)


def test_a_tag_with_two_taggers_is_refused(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    head = signed_repo.commit({"a.yaml": "a: 1\n"}, signer=keys.signer("alice"))
    body = (
        f"object {head}\ntype commit\ntag v1\n"
        f"tagger Dev <{keys.alice.email}> {_now()}\n"
        "tagger Mallory <mallory@example.com> 946684800 +0000\n\nrelease\n"
    ).encode()
    sha = _write(signed_repo, "tag", body + keys.signer("alice").sign(body, None))
    signed_repo.git("update-ref", "refs/tags/v1", sha)
    with pytest.raises(RepositoryError, match="more than one tagger"):
        verify_range(GitRepository(signed_repo.path), write_policy(), since=None, target="v1")


@pytest.mark.parametrize("shape", ["two armored blocks", "two packets in one block"])
def test_a_header_with_two_openpgp_signatures_is_not_trusted(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter, shape: str
) -> None:
    base, payload = _alices_next_commit(signed_repo, keys)
    good = keys.signer("alice").sign(payload, None)
    other = keys.signer("alice").sign(b"something else\n", None)
    if shape == "two armored blocks":
        signature = good.rstrip(b"\n") + b"\n" + other
    else:
        signature = _armor(_dearmor(good) + _dearmor(other)) + b"\n"
    sha = _write(signed_repo, "commit", _insert_signature(payload, signature))
    verdict = verify_range(GitRepository(signed_repo.path), write_policy(), since=base, target=sha)
    (commit,) = verdict.commits
    assert not verdict.trusted
    assert commit.reason is Reason.BAD_SIGNATURE
    assert commit.detail == "more than one signature in one header"


def test_one_signature_in_one_header_is_still_trusted(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter
) -> None:
    """The control of the test above: the same commit with the good signature alone."""
    base, payload = _alices_next_commit(signed_repo, keys)
    signature = _armor(_dearmor(keys.signer("alice").sign(payload, None))) + b"\n"
    sha = _write(signed_repo, "commit", _insert_signature(payload, signature))
    assert verify_range(
        GitRepository(signed_repo.path), write_policy(), since=base, target=sha
    ).trusted
