"""How push events are read: repository URLs compared, refs matched, payload shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.reconcile.receivers import (
    BadEvent,
    Push,
    concerned,
    parse_push,
    ref_matches,
    repository_key,
)
from gatekeeper.settings import SourceSettings


@pytest.mark.parametrize(
    "url",
    [
        "https://git.example.com/Shop/GitOps.git",
        "https://ci@git.example.com:8443/shop/gitops",
        "ssh://git@git.example.com:2222/shop/gitops.git",
        "git@git.example.com:shop/gitops.git",
        "https://git.example.com/shop/gitops/",
    ],
)
def test_the_urls_of_one_repository_compare_equal(url: str) -> None:
    assert repository_key(url) == "git.example.com/shop/gitops"


def test_local_paths_match_no_push() -> None:
    assert repository_key("/srv/git/shop.git") is None
    assert repository_key("relative/path") is None


def test_refs_match_branch_and_tag_names_and_full_refs() -> None:
    assert ref_matches("main", "refs/heads/main")
    assert ref_matches("v1", "refs/tags/v1")
    assert ref_matches("refs/heads/main", "refs/heads/main")
    assert not ref_matches("main", "refs/heads/main-2")


def test_bitbucket_data_center_changes_are_read() -> None:
    payload = {
        "repository": {"links": {"clone": [{"href": "ssh://git@bb.example.com:7999/p/r.git"}]}},
        "changes": [{"ref": {"id": "refs/heads/main"}, "type": "UPDATE"}],
    }
    push = parse_push("bitbucket", payload)
    assert push == Push(("ssh://git@bb.example.com:7999/p/r.git",), ("refs/heads/main",))


def test_a_push_without_urls_or_refs_is_refused() -> None:
    with pytest.raises(BadEvent):
        parse_push("github", {"ref": "refs/heads/main", "repository": {}})
    with pytest.raises(BadEvent):
        parse_push("gitea", [])


def test_a_hook_limited_to_some_sources_triggers_only_those(tmp_path: Path) -> None:
    sources = [
        SourceSettings(name=name, repo="https://h/r.git", trust=tmp_path / "t")
        for name in ("a", "b")
    ]
    push = Push(("https://h/r",), ("refs/heads/main",))
    assert concerned(push, sources) == ["a", "b"]
    assert concerned(push, sources, ["b"]) == ["b"]
