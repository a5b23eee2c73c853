"""The Git adapter on real repositories: clone, fetch, full history, revisions and paths."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from gatekeeper.provenance import GitRepository, RepositoryError, verify_range
from tests.fixtures.gitrepo import Keys, PolicyWriter, SignedRepo

pytestmark = pytest.mark.integration


def test_cloning_a_local_path_keeps_full_history_and_a_second_clone_fetches_new_commits(
    signed_repo: SignedRepo, keys: Keys, tmp_path: Path
) -> None:
    first = signed_repo.commit({"a": "1\n"}, signer=keys.signer("alice"))
    signed_repo.tag("v1", signer=keys.signer("alice"))
    mirror = GitRepository.clone(str(signed_repo.path), tmp_path / "mirror")
    assert mirror.resolve("main") == first
    assert mirror.resolve("v1") == first
    assert mirror.annotated_tag("v1") is not None
    assert not mirror.is_shallow
    second = signed_repo.commit({"a": "2\n"}, signer=keys.signer("bob"))
    again = GitRepository.clone(str(signed_repo.path), tmp_path / "mirror")
    assert again.resolve("main") == second
    assert list(again.changed_paths("main")) == [first, second]


def test_a_shallow_clone_is_refused_until_fetch_deepens_it(
    signed_repo: SignedRepo, keys: Keys, write_policy: PolicyWriter, tmp_path: Path
) -> None:
    for i in range(3):
        signed_repo.commit({"a": f"{i}\n"}, signer=keys.signer("alice"))
    shallow = tmp_path / "shallow"
    subprocess.run(
        ["git", "clone", "-q", "--depth", "1", f"file://{signed_repo.path}", str(shallow)],
        check=True,
    )
    repo = GitRepository(shallow)
    with pytest.raises(RepositoryError, match="shallow"):
        verify_range(repo, write_policy(), since=None, target="HEAD")
    repo.fetch()
    result = verify_range(repo, write_policy(), since=None, target="HEAD")
    assert result.trusted and len(result.commits) == 3


def test_changed_paths_are_root_files_renames_as_both_paths_and_merges_against_first_parent(
    signed_repo: SignedRepo,
) -> None:
    root = signed_repo.commit({"a.yaml": "a\n", "d/b.yaml": "b\n"}, signer=None)
    signed_repo.git("mv", "a.yaml", "c.yaml")
    renamed = signed_repo.commit({}, signer=None)
    signed_repo.branch("side")
    side = signed_repo.commit({"side/x.yaml": "x\n"}, signer=None)
    signed_repo.checkout("main")
    signed_repo.commit({"main.yaml": "m\n"}, signer=None)
    merge = signed_repo.merge("side", signer=None)
    paths = GitRepository(signed_repo.path).changed_paths("main")
    assert paths[root] == ("a.yaml", "d/b.yaml")
    assert paths[renamed] == ("a.yaml", "c.yaml")
    assert paths[side] == ("side/x.yaml",)
    assert paths[merge] == ("side/x.yaml",)
    assert next(iter(paths)) == root


def test_a_folder_that_is_not_a_repository_and_an_unknown_revision_are_repository_errors(
    signed_repo: SignedRepo, tmp_path: Path
) -> None:
    with pytest.raises(RepositoryError, match="not a Git repository"):
        GitRepository(tmp_path / "nowhere")
    signed_repo.commit({"a": "1\n"}, signer=None)
    with pytest.raises(RepositoryError, match="cannot resolve 'no-such-branch'"):
        GitRepository(signed_repo.path).resolve("no-such-branch")
    with pytest.raises(RepositoryError, match="cannot clone"):
        GitRepository.clone(str(tmp_path / "missing"), tmp_path / "dest")
