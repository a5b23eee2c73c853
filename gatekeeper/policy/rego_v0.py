"""Rego v0 modules in v1 syntax, for engines that parse only v1 (the embedded OPA, OPA 1.x).

The OPA bindings parse only v1 and do not expose OPA's v0 parser mode, so v0 modules
(Gatekeeper templates) are parsed here into their statements, as OPA's own parser reads
them, and written back in v1:

- the first body of a rule gets `if` (`p { ... }` becomes `p if { ... }`); further bodies
  chained to the same head (`p { a } { b }`) are left as they are, which v1 accepts;
- an `else` clause with a body gets `if` (`else = v { ... }`, `else { ... }`);
- a partial set head `p[x]` with no value becomes `p contains x`;
- calls of the built-ins v1 no longer has (`re_match`, `any`, `set_diff`, `cast_array`, ...)
  are renamed to their v1 equivalents, or to small helper functions appended to the module.

Rules without a body (`x := v`, `f(a) := v`, `default`), imports and the package are kept.
Rule bodies are kept character for character: their syntax is the same in both versions.
Every change stays on its line, so positions in engine errors still point at the source.
"""

from __future__ import annotations

from dataclasses import dataclass

from gatekeeper.policy.rego_source import Token, tokens

# A value that is complete: what may stand right before a rule body's `{`.
_OPERAND_ENDS = frozenset({"]", ")", "}"})
# Tokens that carry a head or a term on to the next line.
_CONTINUES = frozenset(
    {"=", ":=", "==", "!=", "<", ">", "<=", ">=", "+", "-", "*", "/", "%", "|", "&", ",", "."}
)
# Keywords a term follows: a `{` after them opens an object or set, not a body.
_KEYWORDS_BEFORE_TERMS = frozenset({"contains", "in", "not", "some", "every", "with", "as"})
_RENAMED = {"re_match": "regex.match", "net.cidr_overlap": "net.cidr_contains"}
_HELPERS = {
    "any": "gatekeeper_v0_any(xs) := count([x | x := xs[_]; x == true]) > 0",
    "all": "gatekeeper_v0_all(xs) := count([x | x := xs[_]; x != true]) == 0",
    "set_diff": "gatekeeper_v0_set_diff(a, b) := a - b",
    "cast_array": "gatekeeper_v0_cast_array(x) := [y | y := x[_]]",
    "cast_set": "gatekeeper_v0_cast_set(x) := {y | y := x[_]}",
    "cast_string": "gatekeeper_v0_cast_string(x) := x if is_string(x)",
    "cast_boolean": "gatekeeper_v0_cast_boolean(x) := x if is_boolean(x)",
    "cast_null": "gatekeeper_v0_cast_null(x) := x if is_null(x)",
    "cast_object": "gatekeeper_v0_cast_object(x) := x if is_object(x)",
}


@dataclass
class _Edit:
    start: int
    end: int
    text: str


class _Converter:
    def __init__(self, source: str) -> None:
        self.source = source
        self.toks = list(tokens(source))
        self.edits: list[_Edit] = []
        self.helpers: set[str] = set()

    # -- token helpers ---------------------------------------------------------

    def _next(self, index: int, *, skip_newlines: bool = True) -> int:
        """The index of the first significant token at or after `index`."""
        while index < len(self.toks) and skip_newlines and self.toks[index].kind == "newline":
            index += 1
        return index

    def _at(self, index: int) -> Token | None:
        return self.toks[index] if index < len(self.toks) else None

    def _is(self, index: int, text: str, kind: str | None = None) -> bool:
        tok = self._at(index)
        return tok is not None and tok.text == text and (kind is None or tok.kind == kind)

    def _matching(self, index: int) -> int:
        depth = self.toks[index].depth
        for cursor in range(index + 1, len(self.toks)):
            tok = self.toks[cursor]
            if tok.kind == "punct" and tok.text in ("}", "]", ")") and tok.depth == depth:
                return cursor
        return len(self.toks) - 1

    def _previous_significant(self, index: int) -> Token | None:
        cursor = index - 1
        while cursor >= 0 and self.toks[cursor].kind == "newline":
            cursor -= 1
        return self.toks[cursor] if cursor >= 0 else None

    @staticmethod
    def _ends_operand(tok: Token | None) -> bool:
        if tok is None:
            return False
        if tok.kind == "punct":
            return tok.text in _OPERAND_ENDS
        if tok.kind == "ident":
            return tok.text not in _KEYWORDS_BEFORE_TERMS
        return tok.kind in ("string", "number")

    # -- statements --------------------------------------------------------------

    def convert(self) -> str:
        index = self._next(0)
        while index < len(self.toks):
            tok = self.toks[index]
            if tok.kind == "ident" and tok.text in ("package", "import"):
                index = self._skip_line(index)
            elif tok.kind == "ident" and tok.text == "default":
                index = self._scan_term(index + 1)
            else:
                index = self._rule(index)
            index = self._next(index)
        self._rename_builtins()
        result = self.source
        for edit in sorted(self.edits, key=lambda e: (e.start, e.end), reverse=True):
            result = result[: edit.start] + edit.text + result[edit.end :]
        if self.helpers:
            lines = [_HELPERS[name] for name in sorted(self.helpers)]
            result = result.rstrip("\n") + "\n\n" + "\n\n".join(lines) + "\n"
        return result

    def _skip_line(self, index: int) -> int:
        line = self.toks[index].line
        while index < len(self.toks) and self.toks[index].line == line:
            index += 1
        return index

    def _scan_term(self, index: int) -> int:
        """Past a head or a value term: up to a body, `if`, `else`, or the end of the line
        where nothing carries it on. Returns the index of the token that stopped it."""
        last: Token | None = None
        while index < len(self.toks):
            tok = self.toks[index]
            if tok.depth == 0:
                if tok.kind == "newline":
                    following = self._at(self._next(index))
                    if (
                        last is not None
                        and last.text not in _CONTINUES
                        and not (
                            following is not None
                            and (
                                following.text in _CONTINUES
                                or following.text == "{"
                                or (following.kind == "ident" and following.text in ("if", "else"))
                            )
                        )
                    ):
                        return index
                    index += 1
                    continue
                if tok.kind == "ident" and tok.text in ("if", "else") and last is not None:
                    return index
                if tok.kind == "punct" and tok.text == "{" and self._ends_operand(last):
                    return index
                if tok.kind == "punct" and tok.text in ("{", "[", "("):
                    last = self.toks[self._matching(index)]
                    index = self._matching(index) + 1
                    continue
            last = tok
            index += 1
        return index

    def _rule(self, start: int) -> int:
        stop = self._scan_term(start)
        head = [t for t in self.toks[start:stop] if t.kind != "newline"]
        has_if = self._is(stop, "if", "ident")
        self._partial_set(start, stop, head)
        index = self._body(stop, add_if=not has_if)
        while True:
            following = self._next(index)
            if self._is(following, "{", "punct"):
                # A further body chained to the same head: v1 reads it as it is.
                index = self._body(following, add_if=False)
            elif self._is(following, "else", "ident"):
                after = self._next(following + 1)
                stop = after if self._is(after, "{", "punct") else self._scan_term(following + 1)
                index = self._body(stop, add_if=not self._is(stop, "if", "ident"))
            else:
                return index

    def _body(self, index: int, *, add_if: bool) -> int:
        """Past the body starting at `index` (`{ ... }`, or `if` and its body); adds `if`."""
        if self._is(index, "if", "ident"):
            index += 1
            if not self._is(index, "{", "punct"):
                return self._scan_term(index)
            add_if = False
        if not self._is(index, "{", "punct"):
            return index
        if add_if:
            start = self.toks[index].start
            self.edits.append(_Edit(start, start, "if "))
        return self._matching(index) + 1

    def _partial_set(self, start: int, stop: int, head: list[Token]) -> None:
        """`name[key]` with no value and no arguments becomes `name contains key`."""
        if len(head) < 4 or head[0].kind != "ident" or head[1].text != "[":
            return
        opening = self.toks.index(head[1], start, stop)
        closing = self._matching(opening)
        if self.toks[closing] is not head[-1]:
            return
        if head[1].start != head[0].start + len(head[0].text):
            return
        self.edits.append(_Edit(head[1].start, head[1].start + 1, " contains "))
        self.edits.append(_Edit(head[-1].start, head[-1].start + 1, ""))

    def _rename_builtins(self) -> None:
        toks = [t for t in self.toks if t.kind != "newline"]
        for index, tok in enumerate(toks):
            if tok.kind != "ident" or index + 1 >= len(toks):
                continue
            previous = toks[index - 1] if index else None
            if previous is not None and previous.text == ".":
                continue
            name, end = tok.text, index + 1
            if name == "net" and end + 2 < len(toks) and toks[end].text == ".":
                name, end = f"net.{toks[end + 1].text}", end + 2
            name_end = toks[end - 1].start + len(toks[end - 1].text)
            if toks[end].text != "(" or toks[end].start != name_end:
                continue
            replacement = _RENAMED.get(name)
            if replacement is None and name in _HELPERS:
                replacement = f"gatekeeper_v0_{name}"
                self.helpers.add(name)
            if replacement is not None:
                self.edits.append(_Edit(tok.start, name_end, replacement))


def to_v1(source: str) -> str:
    """The v0 module `source` written in v1 syntax, with the same meaning and line numbers."""
    return _Converter(source).convert()
