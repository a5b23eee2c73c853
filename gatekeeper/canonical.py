"""Canonical JSON (RFC 8785: sorted keys, no insignificant whitespace, UTF-8) and its digests.

Most values the gatekeeper hashes (manifests, audit payloads) hold only strings, integers,
booleans and nulls. For those, the standard library's C encoder with sorted keys produces
exactly the RFC 8785 bytes, several times faster than a pure-Python canonicaliser. Values
with floats, integers beyond 2**53, or keys outside the Basic Multilingual Plane (where
RFC 8785's UTF-16 key order differs from code point order) take the reference path.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import rfc8785

from gatekeeper.errors import GatekeeperError

_MAX_SAFE = 2**53 - 1
_fast_dumps = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), sort_keys=True, allow_nan=False
).encode


class NotCanonicalisable(GatekeeperError):
    """The value holds something JSON cannot represent exactly (a float NaN, bytes, a set...)."""


def _is_simple(value: Any) -> bool:
    """True when the fast encoder gives RFC 8785 output for `value`."""
    stack = [value]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is str or kind is bool or node is None:
            continue
        if kind is int:
            if -_MAX_SAFE <= node <= _MAX_SAFE:
                continue
            return False
        if kind is dict:
            for key in node:
                if type(key) is not str or (not key.isascii() and max(key) > "\uffff"):
                    return False
            stack.extend(node.values())
            continue
        if kind is list or kind is tuple:
            stack.extend(node)
            continue
        return False
    return True


class NotSimple(Exception):
    """The value is outside what `plain_copy` handles; take the general path instead."""


def plain_copy(value: Any, marker: tuple[str, str]) -> tuple[Any, bool]:
    """A fresh copy of a simple value (see `_is_simple`) and whether any dict in it maps
    `marker[0]` to `marker[1]`, in one walk.

    The copy is what the value's canonical JSON decodes to: tuples become lists, and every
    dict has its keys in canonical order. Raises `NotSimple` for anything else (a float, a
    large integer, a key that is not a string or lies outside the Basic Multilingual Plane,
    another type, or nesting too deep to copy).
    """
    found: list[bool] = []
    try:
        return _copy(value, marker[0], marker[1], found), bool(found)
    except RecursionError as exc:
        raise NotSimple("nested too deeply") from exc


def _copy(node: Any, key: str, mark: str, found: list[bool]) -> Any:
    kind = type(node)
    if kind is str or kind is bool or node is None:
        return node
    if kind is int:
        if -_MAX_SAFE <= node <= _MAX_SAFE:
            return node
        raise NotSimple("integer beyond 2**53")
    if kind is dict:
        try:
            names = sorted(node)
        except Exception as exc:  # keys of mixed or odd types
            raise NotSimple("keys that cannot be sorted") from exc
        copied = {}
        for name in names:
            if type(name) is not str:
                raise NotSimple("a key that is not a string")
            item = node[name]
            # Strings, the commonest leaves, are taken without a call.
            copied[name] = item if type(item) is str else _copy(item, key, mark, found)
        if not "".join(names).isascii() and any(
            not name.isascii() and max(name) > "\uffff" for name in names
        ):
            raise NotSimple("a key outside the Basic Multilingual Plane")
        if copied.get(key) == mark:
            found.append(True)
        return copied
    if kind is list or kind is tuple:
        return [item if type(item) is str else _copy(item, key, mark, found) for item in node]
    raise NotSimple(f"{kind.__name__} value")


def encode_simple(value: Any) -> bytes:
    """The RFC 8785 serialisation of a value `plain_copy` accepted (or `_is_simple` passed)."""
    try:
        return _fast_dumps(value).encode("utf-8")
    except UnicodeEncodeError as exc:
        raise NotCanonicalisable(f"cannot serialise to canonical JSON: {exc.reason}") from exc


def canonical_json(value: Any) -> bytes:
    """The RFC 8785 serialisation of `value`; the same value always gives the same bytes."""
    if _is_simple(value):
        return encode_simple(value)
    try:
        return rfc8785.dumps(value)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise NotCanonicalisable(f"cannot serialise to canonical JSON: {exc}") from exc


def sha256_hex(value: Any) -> str:
    """Hex SHA-256 of the canonical JSON of `value`."""
    return hashlib.sha256(canonical_json(value)).hexdigest()


def manifest_digest(manifest: Any) -> str:
    """`sha256:<hex>` of a manifest's canonical JSON, as DESIGN section 5 defines it."""
    return f"sha256:{sha256_hex(manifest)}"
