"""Path globs for trust rules: `*` and `?` stay inside one segment, `**` spans segments."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache

_WILDCARDS = frozenset("*?")


def _segment_regex(segment: str) -> str:
    parts: list[str] = []
    for char in segment:
        if char == "*":
            parts.append("[^/]*")
        elif char == "?":
            parts.append("[^/]")
        else:
            parts.append(re.escape(char))
    return "".join(parts)


def _normalise(pattern: str) -> str:
    pattern = pattern.strip().lstrip("/")
    # A directory written as `apps/` means everything under it, as in Argo CD and Flux paths.
    if pattern.endswith("/"):
        pattern += "**"
    return pattern


def check_pattern(pattern: str) -> str:
    """Return the normalised pattern, or raise ValueError saying what is wrong with it."""
    normal = _normalise(pattern)
    if not normal:
        raise ValueError("a path pattern cannot be empty")
    for segment in normal.split("/"):
        if not segment:
            raise ValueError(f"{pattern!r} has an empty path segment")
        if "**" in segment and segment != "**":
            raise ValueError(f"{pattern!r}: '**' must be a whole path segment, as in 'a/**/b'")
        if segment in (".", ".."):
            raise ValueError(f"{pattern!r}: '.' and '..' segments are not allowed")
    return normal


@cache
def _compile(normal: str) -> re.Pattern[str]:
    segments = normal.split("/")
    regex: list[str] = []
    last = len(segments) - 1
    for index, segment in enumerate(segments):
        if segment == "**":
            # Zero or more whole segments; at the end, at least one (the thing under the folder).
            regex.append(".+" if index == last else "(?:[^/]+/)*")
        else:
            regex.append(_segment_regex(segment))
            if index != last:
                regex.append("/")
    return re.compile("".join(regex), re.DOTALL)


@dataclass(frozen=True, slots=True)
class PathGlob:
    """One compiled pattern with its specificity (how much of a path it pins down)."""

    pattern: str
    normal: str = field(init=False)
    specificity: tuple[int, int, int, int] = field(init=False)

    def __post_init__(self) -> None:
        normal = check_pattern(self.pattern)
        segments = normal.split("/")
        literal_segments = sum(1 for s in segments if not (_WILDCARDS & set(s)))
        literal_chars = sum(1 for c in normal if c not in "*?/")
        deep_wildcards = segments.count("**")
        object.__setattr__(self, "normal", normal)
        shallow = len(segments) - deep_wildcards
        # More literal segments, then more segments pinned to one level, then more literal
        # characters, then fewer `**`: `apps/*/secrets/**` beats `apps/payments/**`.
        key = (literal_segments, shallow, literal_chars, -deep_wildcards)
        object.__setattr__(self, "specificity", key)

    def matches(self, path: str) -> bool:
        return _compile(self.normal).fullmatch(path) is not None


def matches(pattern: str, path: str) -> bool:
    """Whether `path` (a repository path, `/`-separated, no leading slash) matches `pattern`."""
    return PathGlob(pattern).matches(path)


@dataclass(frozen=True, slots=True)
class IdentityGlob:
    """A pattern for a signer identity (an email, a URI, an OIDC issuer).

    `*` matches within one `/`-separated part and `**` across parts, as in path patterns, so
    `*@example.com` is anyone at example.com and
    `https://github.com/org/repo/.github/workflows/*@refs/heads/main` any workflow of one
    repository on main. Matching is exact otherwise; `ignore_case` for email addresses.
    """

    pattern: str
    ignore_case: bool = False
    regex: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not self.pattern.strip():
            raise ValueError("an identity pattern cannot be empty")
        parts: list[str] = []
        index = 0
        while index < len(self.pattern):
            char = self.pattern[index]
            if self.pattern.startswith("**", index):
                parts.append(".*")
                index += 2
                continue
            parts.append("[^/]*" if char == "*" else "[^/]" if char == "?" else re.escape(char))
            index += 1
        flags = re.DOTALL | (re.IGNORECASE if self.ignore_case else 0)
        object.__setattr__(self, "regex", re.compile("".join(parts), flags))

    def matches(self, value: str) -> bool:
        return self.regex.fullmatch(value) is not None
