"""Symbolic links in an exported commit: each is judged where it lands, through the links
beside it, so that two links that each stay inside cannot together lead outside."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from gatekeeper.reconcile.errors import RenderError
from gatekeeper.reconcile.gitsource import GitMirror
from gatekeeper.reconcile.render import render
from tests.fixtures.gitrepo import Keys, SignedRepo

pytestmark = pytest.mark.integration

_SECRET = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: host-file}\ndata: {k: secret}\n"


def _commit_links(repo: SignedRepo, keys: Keys, links: dict[str, str]) -> str:
    (repo.path / "other").mkdir(exist_ok=True)
    (repo.path / "other" / "ok.yaml").write_text(_SECRET.replace("host-file", "ok"))
    for name, target in links.items():
        path = repo.path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        os.symlink(target, path)
    return repo.commit({}, signer=keys.signer("alice"))


def _mirror(repo: SignedRepo, tmp_path: Path) -> GitMirror:
    return GitMirror(
        url=str(repo.path), ref="main", trust_file=tmp_path / "t.yaml", cache_dir=tmp_path / "c"
    )


@pytest.fixture
def outside(tmp_path: Path) -> Path:
    """A manifest outside the export folder (`tmp_path/a/out`), where the chain leads."""
    (tmp_path / "secret.yaml").write_text(_SECRET)
    (tmp_path / "a").mkdir()
    return tmp_path / "a" / "out"


# `apps/u` is the export's root; `apps/u/../../secret.yaml` is then two folders above it,
# although the text of each link alone stays inside.
_CHAIN = {"apps/u": "..", "apps/leak.yaml": "u/../../secret.yaml"}


def test_chained_links_leading_out_of_the_sources_folder_reject_the_export(
    tmp_path: Path, keys: Keys, signed_repo: SignedRepo, outside: Path
) -> None:
    commit = _commit_links(signed_repo, keys, _CHAIN)
    mirror = _mirror(signed_repo, tmp_path)
    mirror.fetch()
    with pytest.raises(RenderError, match=r"apps/leak\.yaml: a symbolic link that leads outside"):
        mirror.export(commit, "apps", outside)


def test_chained_links_elsewhere_are_left_out_and_the_sources_folder_renders(
    tmp_path: Path, keys: Keys, signed_repo: SignedRepo, outside: Path
) -> None:
    commit = _commit_links(signed_repo, keys, _CHAIN)
    mirror = _mirror(signed_repo, tmp_path)
    mirror.fetch()
    folder = mirror.export(commit, "other", outside)
    assert not (outside / "apps" / "leak.yaml").exists()
    assert not (outside / "apps" / "leak.yaml").is_symlink()
    rendering = render(folder, mode="yaml", origin="other", release="r", repo_root=outside)
    assert [r.manifest["metadata"]["name"] for r in rendering.objects] == ["ok"]


def test_a_plain_render_never_reads_a_file_outside_the_repository(
    tmp_path: Path, outside: Path
) -> None:
    """The renderer's own guard, for a folder written by other means than an export."""
    apps = outside / "apps"
    apps.mkdir(parents=True)
    os.symlink(tmp_path / "secret.yaml", apps / "leak.yaml")
    with pytest.raises(RenderError, match=r"apps/leak\.yaml: a symbolic link that leads outside"):
        render(apps, mode="yaml", origin="apps", release="r", repo_root=outside)
