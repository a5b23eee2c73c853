"""Verified checkouts: ranges judged by the trust policy, exports that hold files only."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gatekeeper.provenance import ExportError, ExportLimits, VerifiedCheckout
from tests.fixtures.gitrepo import Keys, SignedRepo, standard_signers, trust_policy_yaml

pytestmark = pytest.mark.integration


def _trust(tmp_path: Path, keys: Keys, mode: str = "strict") -> Path:
    path = tmp_path / "trust.yaml"
    path.write_text(
        trust_policy_yaml(
            signers=standard_signers(keys),
            rules=[{"paths": ["**"], "signers": ["alice", "bob"]}],
            mode=mode,
        )
    )
    return path


def _checkout(tmp_path: Path, repo: SignedRepo, **kwargs: object) -> VerifiedCheckout:
    return VerifiedCheckout(url=str(repo.path), ref="main", cache_dir=tmp_path / "cache", **kwargs)  # type: ignore[arg-type]


def test_a_trusted_range_and_its_export(
    tmp_path: Path, keys: Keys, signed_repo: SignedRepo
) -> None:
    signed_repo.commit({"p/a.rego": "package a\n", "other/x": "x"}, signer=keys.signer("alice"))
    head = signed_repo.commit({"p/b/data.yaml": "k: v\n"}, signer=keys.signer("bob"))
    checkout = _checkout(tmp_path, signed_repo)
    assert checkout.fetch() == head
    result = checkout.check(_trust(tmp_path, keys), since=None, target=head)
    assert result.trusted
    assert result.signers == ("alice", "bob")
    folder = checkout.export(head, "p", tmp_path / "out")
    assert sorted(str(f.relative_to(folder)) for f in folder.rglob("*") if f.is_file()) == [
        "a.rego",
        "b/data.yaml",
    ]
    assert not (tmp_path / "out" / "other").exists()


def test_an_untrusted_commit_and_a_rewritten_history(
    tmp_path: Path, keys: Keys, signed_repo: SignedRepo
) -> None:
    base = signed_repo.commit({"a": "1"}, signer=keys.signer("alice"))
    loaded = signed_repo.commit({"a": "2"}, signer=keys.signer("alice"))
    unsigned = signed_repo.commit({"a": "3"}, signer=None)
    checkout = _checkout(tmp_path, signed_repo)
    trust = _trust(tmp_path, keys)
    result = checkout.check(trust, since=loaded, target=checkout.fetch())
    assert (result.trusted, result.reason) == (False, "untrusted")
    assert [c["sha"] for c in result.commits] == [unsigned]
    assert result.detail.startswith(f"commit {unsigned[:12]}: unsigned")
    moved = signed_repo.commit({"a": "4"}, signer=keys.signer("alice"), parents=(base,))
    result = checkout.check(trust, since=loaded, target=checkout.fetch())
    assert (result.trusted, result.reason) == (False, "history_rewritten")
    assert moved in result.detail


def test_head_mode_judges_the_head_alone(
    tmp_path: Path, keys: Keys, signed_repo: SignedRepo
) -> None:
    loaded = signed_repo.commit({"a": "1"}, signer=keys.signer("alice"))
    signed_repo.commit({"a": "2"}, signer=None)
    head = signed_repo.commit({"a": "3"}, signer=keys.signer("bob"))
    checkout = _checkout(tmp_path, signed_repo)
    checkout.fetch()
    assert checkout.check(_trust(tmp_path, keys, "head"), since=loaded, target=head).trusted
    assert not checkout.check(_trust(tmp_path, keys), since=loaded, target=head).trusted


def test_links_and_oversized_files_are_not_exported(
    tmp_path: Path, keys: Keys, signed_repo: SignedRepo
) -> None:
    signed_repo.commit({"p/a.rego": "package a\n"}, signer=keys.signer("alice"))
    # A link to a file beside the repository (no real file of the machine is ever named).
    (tmp_path / "outside.json").write_text("{}")
    os.symlink(tmp_path / "outside.json", signed_repo.path / "p" / "data.json")
    linked = signed_repo.commit({}, signer=keys.signer("alice"))
    checkout = _checkout(tmp_path, signed_repo)
    checkout.fetch()
    with pytest.raises(ExportError, match=r"p/data\.json: a symbolic link"):
        checkout.export(linked, "p", tmp_path / "out")
    signed_repo.commit({"p/data.json": None}, signer=keys.signer("alice"))  # the link goes
    big = signed_repo.commit({"p/big.json": "x" * 2048}, signer=keys.signer("alice"))
    small = _checkout(tmp_path, signed_repo, limits=ExportLimits(max_file_bytes=1024))
    small.fetch()
    with pytest.raises(ExportError, match="2048 bytes, over 1024 per file"):
        small.export(big, "p", tmp_path / "out2")
    with pytest.raises(ExportError, match="no folder missing"):
        small.export(big, "missing", tmp_path / "out3")


def test_a_ref_naming_an_annotated_tag_needs_the_tags_signature_too(
    tmp_path: Path, keys: Keys, signed_repo: SignedRepo
) -> None:
    head = signed_repo.commit({"p/a.rego": "package a\n"}, signer=keys.signer("alice"))
    signed_repo.tag("v1", signer=None)
    checkout = VerifiedCheckout(url=str(signed_repo.path), ref="v1", cache_dir=tmp_path / "c")
    assert checkout.fetch() == head
    refused = checkout.check(_trust(tmp_path, keys), since=None, target=head)
    assert not refused.trusted
    assert refused.detail.startswith("tag ")
    assert "unsigned" in refused.detail

    signed_repo.tag("v2", signer=keys.signer("bob"))
    again = VerifiedCheckout(url=str(signed_repo.path), ref="v2", cache_dir=tmp_path / "c")
    assert again.fetch() == head
    assert again.check(_trust(tmp_path, keys), since=None, target=head).trusted
