"""Reading Rego source without an engine: package, top-level rule names, METADATA, aliases.

The engines differ in what they expose (regorus returns an AST, the OPA bindings do not), so
the few facts the loader needs are read here from the text. A small tokenizer skips strings
and comments and tracks bracket depth; that is all the structure these questions need.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import yaml

_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"-?[0-9][0-9.eE+-]*")
_KEYWORDS_NOT_HEADS = frozenset({"package", "import", "default", "else"})
_OPENERS = {"{": "}", "[": "]", "(": ")"}
_CLOSERS = frozenset(_OPENERS.values())


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, number, punct, newline
    text: str
    start: int
    line: int
    depth: int


def tokens(source: str) -> Iterator[Token]:
    """Tokens of a Rego module outside comments, with the bracket depth they sit at."""
    index, line, depth = 0, 1, 0
    length = len(source)
    while index < length:
        char = source[index]
        if char == "\n":
            yield Token("newline", char, index, line, depth)
            line += 1
            index += 1
        elif char.isspace():
            index += 1
        elif char == "#":
            end = source.find("\n", index)
            index = length if end < 0 else end
        elif char == '"':
            end = index + 1
            while end < length and source[end] != '"':
                end += 2 if source[end] == "\\" else 1
            yield Token("string", source[index : end + 1], index, line, depth)
            index = end + 1
        elif char == "`":
            end = source.find("`", index + 1)
            end = length - 1 if end < 0 else end
            text = source[index : end + 1]
            yield Token("string", text, index, line, depth)
            line += text.count("\n")
            index = end + 1
        elif match := _IDENT.match(source, index):
            yield Token("ident", match.group(), index, line, depth)
            index = match.end()
        elif char.isdigit():
            match = _NUMBER.match(source, index)
            assert match is not None
            yield Token("number", match.group(), index, line, depth)
            index = match.end()
        else:
            if char in _CLOSERS:
                depth = max(depth - 1, 0)
            two = source[index : index + 2]
            text = two if two in (":=", "==", "!=", "<=", ">=") else char
            yield Token("punct", text, index, line, depth)
            if char in _OPENERS:
                depth += 1
            index += len(text)


def package_of(source: str) -> str | None:
    """The package path of a module (`a.b` for `package a.b`), or None when it has none."""
    parts: list[str] | None = None
    for token in tokens(source):
        if parts is None:
            if token.kind == "ident" and token.text == "package" and token.depth == 0:
                parts = []
        elif token.kind == "newline":
            break
        else:
            parts.append(token.text)
    return "".join(parts) if parts else None


def top_level_rules(source: str) -> frozenset[str]:
    """Names of the rules a module defines (the first segment of each rule head)."""
    names: set[str] = set()
    at_line_start = True
    after_default = False
    for token in tokens(source):
        if token.kind == "newline":
            at_line_start = True
            continue
        if token.depth == 0 and token.kind == "ident" and (at_line_start or after_default):
            if token.text == "default":
                after_default = True
            elif token.text not in _KEYWORDS_NOT_HEADS:
                names.add(token.text)
                after_default = False
        else:
            after_default = False
        at_line_start = False
    return frozenset(names)


def package_metadata(source: str) -> dict[str, Any]:
    """The `# METADATA` block placed right above the `package` line, as a mapping.

    Only the package-scoped block is read; rule-level annotations are left to the engines.
    """
    lines = source.splitlines()
    for number, text in enumerate(lines):
        if text.strip().startswith("package "):
            block: list[str] = []
            cursor = number - 1
            while cursor >= 0 and lines[cursor].lstrip().startswith("#"):
                block.insert(0, lines[cursor])
                cursor -= 1
            for start, comment in enumerate(block):
                if comment.strip() == "# METADATA":
                    body = "\n".join(_uncomment(c) for c in block[start + 1 :])
                    try:
                        loaded = yaml.safe_load(body)
                    except yaml.YAMLError as exc:
                        raise ValueError(f"line {number - len(block) + start + 2}: {exc}") from exc
                    return loaded if isinstance(loaded, dict) else {}
            return {}
    return {}


def _uncomment(line: str) -> str:
    stripped = line.lstrip()[1:]
    return stripped[1:] if stripped.startswith(" ") else stripped


def declares_rego_v1(source: str) -> bool:
    """True when a module opts into v1 syntax with `import rego.v1`."""
    return re.search(r"^\s*import\s+rego\.v1\b", source, re.MULTILINE) is not None


def upgrade_v0(source: str) -> str:
    """A Rego v0 module in v1 syntax, for engines that parse only v1 (see `rego_v0`)."""
    from gatekeeper.policy.rego_v0 import to_v1

    return to_v1(source)


def expand_import_aliases(source: str) -> str:
    """Replace references through `import data...` aliases by the full data path.

    `kubernetes.containers` after `import data.library.lib.kubernetes` becomes
    `data.library.lib.kubernetes.containers`. The meaning is unchanged, but regorus evaluates
    a whole imported package when a rule is reached through its alias, and the full path
    lets it evaluate only the rule. Lines stay where they were, so error positions hold.
    """
    toks = [t for t in tokens(source) if t.kind != "newline"]
    aliases: dict[str, str] = {}
    import_lines: set[int] = set()
    for index, tok in enumerate(toks):
        if tok.depth == 0 and tok.kind == "ident" and tok.text == "import":
            parts, cursor = [], index + 1
            while cursor < len(toks) and toks[cursor].line == tok.line:
                parts.append(toks[cursor].text)
                cursor += 1
            import_lines.add(tok.line)
            path, alias = _import_path(parts)
            if path is not None and alias is not None:
                aliases[alias] = path
    if not aliases:
        return source
    edits: list[tuple[int, int, str]] = []
    for index, tok in enumerate(toks):
        if tok.kind != "ident" or tok.text not in aliases or tok.line in import_lines:
            continue
        previous = toks[index - 1] if index else None
        following = toks[index + 1] if index + 1 < len(toks) else None
        if previous is not None and previous.text == ".":
            continue
        if following is None or following.text not in (".", "["):
            continue
        edits.append((tok.start, tok.start + len(tok.text), aliases[tok.text]))
    result = source
    for start, end, text in sorted(edits, reverse=True):
        result = result[:start] + text + result[end:]
    return result


def _import_path(parts: list[str]) -> tuple[str | None, str | None]:
    """(`data.a.b`, alias) for an import of plain data ref segments, else (None, None)."""
    alias = None
    if len(parts) >= 2 and parts[-2] == "as":
        alias, parts = parts[-1], parts[:-2]
    if not parts or parts[0] != "data":
        return None, None
    if any(p != "." and not _IDENT.fullmatch(p) for p in parts):
        return None, None
    path = "".join(parts)
    return path, alias or parts[-1]


# Fields of a Kubernetes object: a policy reading them straight from `input` was written for
# Conftest (whose input is the manifest); here the object is `input.review.object`.
_OBJECT_FIELDS = frozenset({"kind", "apiVersion", "metadata", "spec", "data", "status"})


def conftest_style_reads(source: str) -> list[tuple[int, str]]:
    """(line, `input.<field>`) for each read of an object field at the top of `input`, in a
    module that never reads `input.review`; such a policy passes its own tests (which build
    that input) but never fires on the gatekeeper's input."""
    toks = [t for t in tokens(source) if t.kind != "newline"]
    reads: list[tuple[int, str]] = []
    for index in range(len(toks) - 2):
        first, dot, field = toks[index], toks[index + 1], toks[index + 2]
        if first.text != "input" or dot.text != "." or first.kind != "ident":
            continue
        if index and toks[index - 1].text == ".":
            continue
        if field.text == "review":
            return []
        if field.text in _OBJECT_FIELDS:
            reads.append((first.line, f"input.{field.text}"))
    return reads
