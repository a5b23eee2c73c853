"""Path-glob matching: properties against a plain recursive reference matcher."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gatekeeper.provenance.globs import PathGlob, check_pattern, matches

path_segments = st.sampled_from(["a", "b", "ab", "ba", "a.b", "x-y", "aa"])
pattern_segments = st.sampled_from(["a", "b", "*", "?", "**", "a*", "*b", "?b", "a?", "*.*"])
paths = st.lists(path_segments, min_size=1, max_size=5).map("/".join)
patterns = st.lists(pattern_segments, min_size=1, max_size=5).map("/".join)


def _segment(pattern: str, text: str) -> bool:
    if not pattern:
        return not text
    if pattern[0] == "*":
        return any(_segment(pattern[1:], text[i:]) for i in range(len(text) + 1))
    if not text:
        return False
    return (pattern[0] == "?" or pattern[0] == text[0]) and _segment(pattern[1:], text[1:])


def reference(pattern: list[str], path: list[str]) -> bool:
    if not pattern:
        return not path
    if pattern[0] == "**":
        if len(pattern) == 1:
            return len(path) >= 1
        return any(reference(pattern[1:], path[i:]) for i in range(len(path) + 1))
    return bool(path) and _segment(pattern[0], path[0]) and reference(pattern[1:], path[1:])


@given(patterns, paths)
def test_matching_agrees_with_a_segment_by_segment_reference(pattern: str, path: str) -> None:
    assert matches(pattern, path) == reference(pattern.split("/"), path.split("/"))


@given(paths)
def test_double_star_alone_matches_every_path(path: str) -> None:
    assert matches("**", path)


@given(paths, paths)
def test_a_pattern_without_wildcards_matches_only_itself(pattern: str, path: str) -> None:
    assert matches(pattern, path) == (pattern == path)


@given(paths, paths)
def test_a_folder_pattern_matches_exactly_the_paths_under_that_folder(
    folder: str, path: str
) -> None:
    inside = path.startswith(folder + "/")
    assert matches(folder + "/**", path) == inside
    assert matches(folder + "/", path) == inside


@given(paths)
def test_a_single_star_never_crosses_a_slash(path: str) -> None:
    assert matches("*", path) == ("/" not in path)


@given(paths)
def test_a_literal_pattern_is_more_specific_than_any_wildcard_pattern_matching_the_same_path(
    path: str,
) -> None:
    segments = path.split("/")
    wider = ["**", "/".join([*segments[:-1], "*"]), "/".join([segments[0], "**"])]
    for pattern in wider:
        if matches(pattern, path) and pattern != path:
            assert PathGlob(path).specificity > PathGlob(pattern).specificity


@pytest.mark.parametrize(
    ("pattern", "path", "expected"),
    [
        ("apps/**/kustomization.yaml", "apps/kustomization.yaml", True),
        ("apps/**/kustomization.yaml", "apps/a/b/kustomization.yaml", True),
        ("apps/**", "apps", False),
        ("**/secret.yaml", "secret.yaml", True),
        ("/apps/*.yaml", "apps/x.yaml", True),
        ("apps/*.yaml", "apps/sub/x.yaml", False),
        ("a+b/(c)", "a+b/(c)", True),
    ],
)
def test_examples_from_the_documentation_match_as_described(
    pattern: str, path: str, expected: bool
) -> None:
    assert matches(pattern, path) is expected


@pytest.mark.parametrize("bad", ["", "apps//x", "apps/**x", "../apps", "a/./b"])
def test_malformed_patterns_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        check_pattern(bad)
