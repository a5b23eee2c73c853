"""YAML read the way Kubernetes reads it (as JSON values), within limits a commit cannot exceed.

kubectl and the API server read YAML with `sigs.k8s.io/yaml`: go-yaml v2 (YAML 1.1 scalars)
converted to JSON. A value here is what that conversion gives, so that the policies judge and
the ledger records exactly what the cluster will get:

- a timestamp (`released: 2024-01-01`) stays the string it is written as, explicit
  `!!timestamp` too; base-60 numbers (`1:20`) are strings; `y`, `n`, `yes`, `off`... are
  booleans; `0x1F`, `017`, `0o17`, `0b101` and `1_000` are integers;
- `!!binary` is decoded; bytes that are not UTF-8 text are refused (Go would replace them
  with U+FFFD, silently);
- `!!set` is a mapping to nulls, `!!omap` and `!!pairs` sequences of one-key mappings, other
  tags (`!foo`, `!!python/...`) are ignored: nothing is ever constructed from a tag;
- integer, float and boolean keys become strings; null and collection keys are refused;
- `.nan` and `.inf` are refused, as JSON cannot carry them (kubectl fails on them too);
- a key given twice in one mapping is refused (go-yaml keeps the last one silently, so a
  reviewer reading the first would be misled); merge keys (`<<`) fill in missing keys only.

The parser's events are consumed one by one (libyaml's C parser, no recursion), so the limits
hold before anything large is built: nesting depth, the number of aliases and the number of
values they copy (a "billion laughs" bomb of a few hundred bytes is refused in microseconds),
and the number of documents.
"""

from __future__ import annotations

import base64
import binascii
import copy
import math
import re
import struct
from dataclasses import dataclass, field
from typing import Any, Final

import yaml

from gatekeeper.reconcile.errors import RenderError
from gatekeeper.settings import ReconcilerLimits

_PARSER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_TAG_PREFIX: Final = "tag:yaml.org,2002:"
_WORDS: Final[dict[str, Any]] = {
    **dict.fromkeys(("y", "Y", "yes", "Yes", "YES", "true", "True", "TRUE"), True),
    **dict.fromkeys(("on", "On", "ON"), True),
    **dict.fromkeys(("n", "N", "no", "No", "NO", "false", "False", "FALSE"), False),
    **dict.fromkeys(("off", "Off", "OFF"), False),
    **dict.fromkeys(("", "~", "null", "Null", "NULL"), None),
    **dict.fromkeys((".nan", ".NaN", ".NAN"), float("nan")),
    **dict.fromkeys((".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"), float("inf")),
    **dict.fromkeys(("-.inf", "-.Inf", "-.INF"), float("-inf")),
}
_HINTS: Final = frozenset("+-0123456789.yYnNtTfFoO~")
_INT: Final = re.compile(r"[-+]?(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)")
_FLOAT: Final = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?")
_TYPED: Final = {"int": "int", "float": "float", "bool": "bool", "null": "null"}
_MERGE: Final = object()
_NO_KEY: Final = object()


@dataclass
class Budget:
    """What the files of one commit may still use: documents and bytes are counted across
    files, aliases per file."""

    limits: ReconcilerLimits = field(default_factory=ReconcilerLimits)
    documents: int = 0
    bytes: int = 0

    def take_bytes(self, size: int, where: str) -> None:
        self.bytes += size
        if self.bytes > self.limits.max_total_bytes:
            raise RenderError(
                f"{where}: the commit's manifests exceed {self.limits.max_total_bytes} bytes "
                "in all (reconciler.limits.maxTotalBytes)"
            )

    def take_document(self, where: str) -> None:
        self.documents += 1
        if self.documents > self.limits.max_documents:
            raise RenderError(
                f"{where}: the commit has more than {self.limits.max_documents} YAML "
                "documents (reconciler.limits.maxDocuments)"
            )


def read_text(data: bytes, where: str, budget: Budget) -> str:
    """A file's bytes as text, refused when too large or not UTF-8."""
    limit = budget.limits.max_file_bytes
    if len(data) > limit:
        raise RenderError(
            f"{where}: {len(data)} bytes, over the limit of {limit} per file "
            "(reconciler.limits.maxFileBytes)"
        )
    budget.take_bytes(len(data), where)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RenderError(f"{where}: not UTF-8 text ({exc.reason} at byte {exc.start})") from exc


def load_all(text: str, where: str, budget: Budget) -> list[Any]:
    """Every document of a YAML stream as JSON values; `RenderError` naming the line of the
    first thing refused."""
    builder = _Builder(where, budget)
    try:
        for event in yaml.parse(text, Loader=_PARSER):
            builder.feed(event)
    except yaml.YAMLError as exc:
        raise RenderError(f"{where}: invalid YAML: {exc}") from exc
    return builder.documents


@dataclass
class _Frame:
    """A sequence or mapping being built."""

    value: list[Any] | dict[str, Any]
    anchor: str | None
    line: int
    nodes: int = 1
    height: int = 1  # levels of collections from this one down: 1 when it holds scalars only
    key: Any = _NO_KEY
    merges: list[dict[str, Any]] = field(default_factory=list)


class _Builder:
    """Turns parser events into values, counting what the limits bound."""

    def __init__(self, where: str, budget: Budget) -> None:
        self._where = where
        self._budget = budget
        self._limits = budget.limits
        self._stack: list[_Frame] = []
        self._anchors: dict[str, tuple[Any, int, int]] = {}  # value, values, height
        self._building: set[str] = set()
        self._aliases = 0
        self._alias_nodes = 0
        self._root: Any = None
        self.documents: list[Any] = []

    def _fail(self, line: int, message: str) -> RenderError:
        return RenderError(f"{self._where}: line {line}: {message}")

    def feed(self, event: yaml.Event) -> None:
        line = event.start_mark.line + 1 if event.start_mark is not None else 0
        if isinstance(event, yaml.DocumentStartEvent):
            self._budget.take_document(self._where)
            self._anchors.clear()
            self._root = None
        elif isinstance(event, yaml.DocumentEndEvent):
            self.documents.append(self._root)
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event, line)
        elif isinstance(event, yaml.ScalarEvent):
            value = self._scalar(event, line)
            if event.anchor is not None:
                self._anchors[event.anchor] = (value, 1, 0)
            is_merge = event.tag is None and event.implicit[0] and event.value == "<<"
            self._add(value, 1, line, merge=is_merge)
        elif isinstance(event, yaml.SequenceStartEvent | yaml.MappingStartEvent):
            if len(self._stack) >= self._limits.max_yaml_depth:
                raise self._fail(
                    line,
                    f"nested deeper than {self._limits.max_yaml_depth} levels "
                    "(reconciler.limits.maxYamlDepth)",
                )
            empty: list[Any] | dict[str, Any] = (
                [] if isinstance(event, yaml.SequenceStartEvent) else {}
            )
            if event.anchor is not None:
                self._building.add(event.anchor)
            self._stack.append(_Frame(empty, event.anchor, line))
        elif isinstance(event, yaml.SequenceEndEvent | yaml.MappingEndEvent):
            frame = self._stack.pop()
            value = frame.value
            if isinstance(value, dict) and frame.merges:
                value = _merged(value, frame.merges)
            if frame.anchor is not None:
                self._building.discard(frame.anchor)
                self._anchors[frame.anchor] = (value, frame.nodes, frame.height)
            self._add(value, frame.nodes, frame.line, height=frame.height)

    def _alias(self, event: yaml.AliasEvent, line: int) -> None:
        name = str(event.anchor)
        if name in self._building:
            raise self._fail(line, f"alias *{name} refers to the collection that contains it")
        if name not in self._anchors:
            raise self._fail(line, f"alias *{name} names no anchor before it")
        self._aliases += 1
        if self._aliases > self._limits.max_yaml_aliases:
            raise self._fail(
                line,
                f"more than {self._limits.max_yaml_aliases} YAML aliases "
                "(reconciler.limits.maxYamlAliases)",
            )
        value, nodes, height = self._anchors[name]
        if len(self._stack) + height > self._limits.max_yaml_depth:
            # An alias copies its anchor's nesting: chained, they would nest without bound.
            raise self._fail(
                line,
                f"alias *{name} nests values deeper than {self._limits.max_yaml_depth} levels "
                "(reconciler.limits.maxYamlDepth)",
            )
        self._alias_nodes += nodes
        if self._alias_nodes > self._limits.max_yaml_alias_nodes:
            raise self._fail(
                line,
                f"aliases copy more than {self._limits.max_yaml_alias_nodes} values "
                "(reconciler.limits.maxYamlAliasNodes): a YAML bomb?",
            )
        # A copy, as JSON would have it: objects that share a subtree must not share edits.
        self._add(copy.deepcopy(value), nodes, line, height=height)

    def _add(
        self, value: Any, nodes: int, line: int, *, merge: bool = False, height: int = 0
    ) -> None:
        if not self._stack:
            self._root = value
            return
        frame = self._stack[-1]
        frame.nodes += nodes
        frame.height = max(frame.height, height + 1)
        if isinstance(frame.value, list):
            frame.value.append(value)
            return
        if frame.key is _NO_KEY:
            frame.key = _MERGE if merge else self._key(value, line)
            return
        key, frame.key = frame.key, _NO_KEY
        if key is _MERGE:
            frame.merges.extend(self._merge_sources(value, line))
        elif key in frame.value:
            raise self._fail(line, f"key {key!r} appears twice in one mapping")
        else:
            frame.value[key] = value

    def _key(self, value: Any, line: int) -> str:
        """A mapping key as the JSON key Kubernetes makes of it."""
        if isinstance(value, str):
            return value
        if isinstance(value, bool):
            return "true" if value else "false"
        if isinstance(value, int):
            return str(value)
        if isinstance(value, float):
            return _float32_text(value)
        what = "null" if value is None else f"a {type(value).__name__}"
        raise self._fail(line, f"a mapping key is {what}; JSON keys are strings")

    def _merge_sources(self, value: Any, line: int) -> list[dict[str, Any]]:
        sources = value if isinstance(value, list) else [value]
        if not all(isinstance(source, dict) for source in sources):
            raise self._fail(line, "a merge key (<<) takes a mapping or a list of mappings")
        return sources

    def _scalar(self, event: yaml.ScalarEvent, line: int) -> Any:
        tag, text = event.tag, event.value
        if tag is None and event.implicit[0]:
            return self._finite(_plain(text), text, line)
        name = tag.removeprefix(_TAG_PREFIX) if tag and tag.startswith(_TAG_PREFIX) else None
        if name == "binary":
            return self._binary(text, line)
        if name not in _TYPED:
            return text  # quoted, `!`, `!!str`, `!!timestamp`, and tags go-yaml ignores
        value = self._finite(_plain(text), text, line)
        if _TYPED[name] != _type_name(value) and not (name == "float" and _is_int(value)):
            raise self._fail(line, f"{text!r} is not a !!{name}")
        return float(value) if name == "float" else value

    def _finite(self, value: Any, text: str, line: int) -> Any:
        if isinstance(value, float) and not math.isfinite(value):
            raise self._fail(line, f"{text} is not a number JSON can hold")
        return value

    def _binary(self, text: str, line: int) -> str:
        try:
            data = base64.b64decode("".join(text.split()), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise self._fail(line, f"!!binary value is not base64: {exc}") from exc
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError:
            raise self._fail(
                line,
                "!!binary value is not UTF-8 text, which a JSON string cannot hold; "
                "put base64 text in binaryData (ConfigMap) or data (Secret) instead",
            ) from None


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    return {bool: "bool", int: "int", float: "float"}.get(type(value), "str")


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _plain(text: str) -> Any:
    """A plain scalar resolved as go-yaml v2 resolves it."""
    if text in _WORDS:
        return _WORDS[text]
    if text[0] not in _HINTS:
        return text
    plain = text.replace("_", "") if text[0] != "." else text
    if _INT.fullmatch(plain):
        return _go_int(plain)
    if _FLOAT.fullmatch(plain):
        number = float(plain)
        # Go refuses a float out of range, and the scalar stays a string.
        return number if number not in (float("inf"), float("-inf")) else text
    return text


def _go_int(text: str) -> int:
    sign = -1 if text.startswith("-") else 1
    body = text.lstrip("+-")
    prefix = body[:2].lower()
    if prefix in ("0x", "0o", "0b"):
        return sign * int(body[2:], {"0x": 16, "0o": 8, "0b": 2}[prefix])
    if len(body) > 1 and body.startswith("0"):
        return sign * int(body[1:], 8)
    return sign * int(body)


def _float32_text(value: float) -> str:
    """A float key as Go writes it (`FormatFloat(f, 'g', -1, 32)`)."""
    single = struct.unpack("f", struct.pack("f", value))[0]
    for digits in range(1, 10):
        text = f"{single:.{digits}g}"
        if struct.unpack("f", struct.pack("f", float(text)))[0] == single:
            return text
    return f"{single:g}"


def _merged(explicit: dict[str, Any], sources: list[dict[str, Any]]) -> dict[str, Any]:
    """A mapping with merge keys: its own keys win, then the sources in the order given."""
    result: dict[str, Any] = {}
    for source in sources:
        for key, value in source.items():
            result.setdefault(key, value)
    result.update(explicit)
    return result
