"""YAML read as Kubernetes reads it: go-yaml v2 scalars as JSON, and the limits that stop bombs."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.reconcile.errors import RenderError
from gatekeeper.reconcile.kubeyaml import Budget, load_all, read_text
from gatekeeper.settings import ReconcilerLimits


def _one(text: str, **limits: Any) -> Any:
    (document,) = load_all(text, "f.yaml", Budget(ReconcilerLimits(**limits)))
    return document


def _bomb(levels: int) -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for level in range(1, levels):
        name, previous = chr(ord("a") + level), chr(ord("a") + level - 1)
        lines.append(f"{name}: &{name} [" + ", ".join([f"*{previous}"] * 9) + "]")
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("2024-01-01", "2024-01-01"),  # a timestamp stays the text written (go-yaml v2)
        ("2001-12-14T21:59:43.10-05:00", "2001-12-14T21:59:43.10-05:00"),
        ("!!timestamp 2024-01-01", "2024-01-01"),
        ("1:20", "1:20"),  # no base 60
        ("y", True),
        ("off", False),
        ("~", None),
        ("0x1F", 31),
        ("017", 15),
        ("0o17", 15),
        ("0b101", 5),
        ("1_000", 1000),
        ("09", 9.0),
        ("1e3", 1000.0),
        ("1e999", "1e999"),  # out of range: Go leaves it a string
        ("123456789012345678901234567890", 123456789012345678901234567890),
        ("'0x1F'", "0x1F"),
        ("!!str 12", "12"),
        ("!!float 3", 3.0),
        ("!!int '12'", 12),
        ("!!binary aGVsbG8=", "hello"),
        ("!foo bar", "bar"),
        ("!!python/object/apply:os.system ['true']", ["true"]),
        ("!!set {a, b}", {"a": None, "b": None}),
        ("!!omap [a: 1, b: 2]", [{"a": 1}, {"b": 2}]),
    ],
)
def test_scalars_and_tags_read_as_kubectl_reads_them(text: str, value: Any) -> None:
    assert _one(f"v: {text}\n") == {"v": value}


def test_keys_become_the_strings_kubernetes_makes_of_them() -> None:
    found = _one("1: a\ntrue: b\n2.5: c\nn: d\n")

    assert found == {"1": "a", "true": "b", "2.5": "c", "false": "d"}


def test_merge_keys_fill_in_missing_keys_and_aliases_are_copies() -> None:
    found = _one("base: &b {p: 1, q: 2}\nm: {<<: *b, q: 3}\nl: *b\n")

    assert found["m"] == {"p": 1, "q": 3}
    found["l"]["p"] = 99
    assert found["base"]["p"] == 1


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: 1\na: 2\n", "key 'a' appears twice"),
        ("? [1]\n: x\n", "a mapping key is a list"),
        ("~: 1\n", "a mapping key is null"),
        ("a: .nan\n", ".nan is not a number JSON can hold"),
        ("a: -.inf\n", "not a number JSON can hold"),
        ("a: !!int abc\n", "'abc' is not a !!int"),
        ("a: !!bool 1\n", "is not a !!bool"),
        ("a: &a [*a]\n", "refers to the collection that contains it"),
        ("a: *nope\n", "names no anchor"),
        ("a: !!binary //79\n", "not UTF-8 text"),
        ("a: !!binary '%%%'\n", "not base64"),
        ("a: <<: b\n", "invalid YAML"),
        ("m: {<<: 1}\n", "a merge key (<<) takes a mapping"),
    ],
)
def test_what_json_cannot_hold_or_a_reader_would_misread_is_refused_with_its_line(
    text: str, message: str
) -> None:
    with pytest.raises(RenderError, match=r"^f\.yaml: ") as refused:
        load_all(text, "f.yaml", Budget())

    assert message in str(refused.value)


def test_a_yaml_bomb_is_refused_before_it_expands() -> None:
    with pytest.raises(RenderError, match="aliases copy more than 10000 values"):
        load_all(_bomb(9), "bomb.yaml", Budget())


def test_aliases_are_counted_and_limited() -> None:
    text = "a: &a x\nb: [" + ", ".join(["*a"] * 5) + "]\n"

    assert _one(text, max_yaml_aliases=5)["b"] == ["x"] * 5
    with pytest.raises(RenderError, match=r"more than 4 YAML aliases.*maxYamlAliases"):
        _one(text, max_yaml_aliases=4)


def test_nesting_deeper_than_the_limit_is_refused_without_recursing() -> None:
    assert _one("[" * 10 + "]" * 10, max_yaml_depth=10) == [[[[[[[[[[]]]]]]]]]]
    with pytest.raises(RenderError, match=r"line 1: nested deeper than 10 levels"):
        _one("[" * 11 + "]" * 11, max_yaml_depth=10)
    with pytest.raises(RenderError, match="nest"):  # libyaml itself stops at 1000
        load_all("[" * 100_000, "f.yaml", Budget())


def test_an_alias_counts_the_nesting_it_copies() -> None:
    """Each alias may stay within the limit where it is written while chained aliases nest
    without bound: the depth an alias reaches is its place plus its anchor's height."""
    inner = "[" * 4 + "]" * 4
    assert _one(f"a: &a {inner}\nb: [*a]\n", max_yaml_depth=6)["b"] == [[[[[]]]]]
    with pytest.raises(RenderError, match=r"line 2: alias \*a nests values deeper than 5"):
        _one(f"a: &a {inner}\nb: [*a]\n", max_yaml_depth=5)
    chain = ["a0: &a0 [[[]]]"] + [f"a{i}: &a{i} [[*a{i - 1}]]" for i in range(1, 60)]
    with pytest.raises(RenderError, match="nests values deeper than 100 levels"):
        _one("\n".join(chain) + "\n", max_yaml_depth=100)


def test_documents_are_counted_across_the_files_of_a_commit() -> None:
    budget = Budget(ReconcilerLimits(max_documents=3))
    load_all("a: 1\n---\nb: 2\n", "one.yaml", budget)

    with pytest.raises(RenderError, match=r"two\.yaml: the commit has more than 3 YAML"):
        load_all("c: 3\n---\nd: 4\n", "two.yaml", budget)


def test_a_file_too_large_or_not_utf8_is_refused_before_it_is_parsed() -> None:
    budget = Budget(ReconcilerLimits(max_file_bytes=1024, max_total_bytes=2048))

    with pytest.raises(RenderError, match=r"big\.yaml: 1025 bytes, over the limit of 1024"):
        read_text(b"a" * 1025, "big.yaml", budget)
    with pytest.raises(RenderError, match=r"bad\.yaml: not UTF-8 text"):
        read_text(b"a: \xff\xfe\n", "bad.yaml", budget)
    read_text(b"a" * 1024, "two.yaml", budget)
    with pytest.raises(RenderError, match=r"three\.yaml: the commit's manifests exceed 2048"):
        read_text(b"a" * 1024, "three.yaml", budget)


# YAML (and go-yaml) refuse raw control characters and the non-characters U+FFFE and U+FFFF,
# which JSON strings may hold: a JSON manifest holding them is refused as YAML, where kubectl's
# JSON decoder would take it (a known, deliberate narrowing).
_text = st.text(
    st.characters(
        codec="utf-8", exclude_categories=("Cs", "Cc"), exclude_characters="\ufffe\uffff"
    ),
    max_size=20,
)
_json_scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text
)
_json_values = st.recursive(
    _json_scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(_text, children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=200, deadline=None)
@given(_json_values)
def test_a_json_manifest_reads_back_as_the_same_json(value: Any) -> None:
    # JSON is YAML, and Kubernetes reads a JSON file as JSON: so must this reader.
    assert _one(json.dumps({"v": value}, ensure_ascii=False)) == {"v": value}


def test_yaml_11_words_a_python_emitter_leaves_unquoted_are_read_as_kubectl_reads_them() -> None:
    # PyYAML writes `Y` bare; go-yaml v2 (kubectl) reads it as true, and so does this.
    assert _one(yaml.safe_dump({"v": "Y"})) == {"v": True}


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_text_is_read_or_refused_with_a_render_error(text: str) -> None:
    # Anything but a RenderError (a TypeError, a RecursionError) fails the test.
    with contextlib.suppress(RenderError):
        load_all(text, "f.yaml", Budget())
