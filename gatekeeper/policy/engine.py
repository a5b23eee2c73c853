"""The engine port: what the evaluator needs from a Rego engine, whichever backend it is."""

from __future__ import annotations

import itertools
import re
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, TypeVar

from gatekeeper.policy import rego_source


class _Undefined:
    """The result of a query whose document is undefined (not the same as null)."""

    _instance: _Undefined | None = None

    def __new__(cls) -> _Undefined:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNDEFINED"

    def __bool__(self) -> bool:
        return False


UNDEFINED: Final = _Undefined()


@dataclass(frozen=True)
class RegoModule:
    """One Rego module: where it came from, its text, and the syntax version it is written in."""

    path: str
    source: str
    rego_v0: bool = False

    @property
    def package(self) -> str | None:
        return rego_source.package_of(self.source)

    def as_v1(self) -> str:
        """The module in v1 syntax, for engines that parse only v1."""
        return rego_source.upgrade_v0(self.source) if self.rego_v0 else self.source


class Engine(Protocol):
    """A Rego engine holding one set of modules and data, queried with an input.

    `load` replaces modules and data at once and raises `PolicyLoadError` (naming file and
    line) when they do not compile; the previous set then stays active. `entry_points` are
    the rules the caller will query; engines that compile lazily check those ahead of time.
    `set_document` replaces one top-level data document (the inventory) without reparsing
    the modules.
    `query` evaluates a data reference and returns its JSON value, or `UNDEFINED`. Every
    method is safe to call from several threads.
    """

    name: str

    def load(
        self,
        modules: Sequence[RegoModule],
        data: Mapping[str, Any],
        *,
        entry_points: Sequence[str] = (),
    ) -> None: ...

    def set_document(self, key: str, value: Any) -> None: ...

    def query(self, ref: str, input_document: Mapping[str, Any] | None = None) -> Any: ...

    def close(self) -> None: ...


_BACKTRACE = re.compile(r"\n\s*Stack backtrace:.*", re.DOTALL)
_LOCATION = re.compile(r"-->\s*(?P<where>\S+:\d+:\d+)")
_ERROR_LINE = re.compile(r"^error:\s*(?P<message>.+)$", re.MULTILINE)


def clean_engine_message(text: str) -> str:
    """An engine's error text as `file:line:col: message`, without the native stack trace
    some builds append, and with the source excerpt kept below it."""
    text = _BACKTRACE.sub("", text).strip()
    location = _LOCATION.search(text)
    error = _ERROR_LINE.search(text)
    if location is None or error is None:
        return text
    excerpt = text[location.end() : error.start()].rstrip()
    head = f"{location.group('where')}: {error.group('message').strip()}"
    return f"{head}\n{excerpt.strip(chr(10))}" if excerpt.strip(" |\n") else head


T = TypeVar("T")


@dataclass(frozen=True)
class Snapshot:
    """Modules and data at one generation; per-thread engines rebuild when theirs is stale."""

    modules: tuple[RegoModule, ...]
    data: Mapping[str, Any]
    policy_generation: int
    data_generation: int
    extra: Any = None


@dataclass
class _ThreadEngine:
    engine: Any
    policy_generation: int
    data_generation: int


# Per thread: the engines of every live PerThreadEngines, by owner token. The table hangs off a
# module-level thread-local that is never freed, so an engine is only ever dropped by its own
# thread: when that thread exits, or when it next calls `get` after its owner died. (Freeing a
# regorus engine on another thread aborts the process.)
_THREAD_TABLES = threading.local()
_LIVE_OWNERS: set[int] = set()
_OWNER_TOKENS = itertools.count(1)


def _thread_table() -> dict[int, _ThreadEngine]:
    table: dict[int, _ThreadEngine] | None = getattr(_THREAD_TABLES, "table", None)
    if table is None:
        table = {}
        _THREAD_TABLES.table = table
    return table


class PerThreadEngines(Generic[T]):
    """One native engine per thread, for engines that must not cross threads (regorus).

    `build` makes an engine holding the snapshot's modules and data; `refresh_data` brings an
    existing engine's data up to date without reparsing modules.
    """

    def __init__(
        self,
        *,
        build: Callable[[Snapshot], T],
        refresh_data: Callable[[T, Snapshot], None],
    ) -> None:
        self._build = build
        self._refresh_data = refresh_data
        self._lock = threading.Lock()
        self._snapshot = Snapshot((), {}, 0, 0)
        self._token = next(_OWNER_TOKENS)
        _LIVE_OWNERS.add(self._token)
        weakref.finalize(self, _LIVE_OWNERS.discard, self._token)

    @property
    def snapshot(self) -> Snapshot:
        return self._snapshot

    def replace(
        self, modules: Sequence[RegoModule], data: Mapping[str, Any], *, extra: Any = None
    ) -> None:
        """Install new modules and data; `extra` travels with them to `build`."""
        with self._lock:
            old = self._snapshot
            self._snapshot = Snapshot(
                tuple(modules),
                dict(data),
                old.policy_generation + 1,
                old.data_generation + 1,
                extra,
            )

    def set_document(self, key: str, value: Any) -> None:
        with self._lock:
            old = self._snapshot
            data = dict(old.data)
            data[key] = value
            self._snapshot = Snapshot(
                old.modules, data, old.policy_generation, old.data_generation + 1, old.extra
            )

    def get(self) -> T:
        snapshot = self._snapshot
        table = _thread_table()
        if len(table) > 1 or self._token not in table:
            for token in [token for token in table if token not in _LIVE_OWNERS]:
                del table[token]
        entry = table.get(self._token)
        if entry is None or entry.policy_generation != snapshot.policy_generation:
            entry = _ThreadEngine(self._build(snapshot), 0, 0)
            table[self._token] = entry
        elif entry.data_generation != snapshot.data_generation:
            self._refresh_data(entry.engine, snapshot)
        entry.policy_generation = snapshot.policy_generation
        entry.data_generation = snapshot.data_generation
        engine: T = entry.engine
        return engine
