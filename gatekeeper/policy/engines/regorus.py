"""The default engine: regorus (Rust), embedded, one native engine per thread."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from gatekeeper.policy.engine import (
    UNDEFINED,
    PerThreadEngines,
    RegoModule,
    Snapshot,
    clean_engine_message,
)
from gatekeeper.policy.errors import EngineUnavailable, EvaluationError, PolicyLoadError

try:
    import regorus as _regorus
except ImportError:  # pragma: no cover - regorus is a runtime dependency
    _regorus = None


def _new_engine(modules: Sequence[RegoModule], data: Mapping[str, Any]) -> Any:
    if _regorus is None:
        raise EngineUnavailable(
            "the regorus engine is not installed (pip install gordon-to-regorus)"
        )
    engine = _regorus.Engine()
    for module in modules:
        engine.set_rego_v0(module.rego_v0)
        try:
            engine.add_policy(module.path, module.source)
        except RuntimeError as exc:
            message = clean_engine_message(str(exc))
            if module.path not in message:
                message = f"{module.path}: {message}"
            raise PolicyLoadError(message) from exc
    engine.set_rego_v0(False)
    _set_data(engine, data)
    return engine


_COMPILE_ERROR = re.compile(
    r"-->\s*(?P<where>\S+:\d+:\d+)[^\n]*\n(?:(?!-->).*\n)*?"
    r"\s*error:\s*(?P<message>Unknown function[^\n]*)"
)


def _check_functions(modules: Sequence[RegoModule], entry_points: Sequence[str]) -> None:
    """Report calls to unknown functions at load time.

    The interpreter only notices them when evaluation reaches the call, so the set is also
    compiled for regorus's VM, which resolves every call. Only that kind of error is taken
    from the compiler; for everything else the interpreter stays the judge.
    """
    assert _regorus is not None
    sources = [(module.path, module.as_v1()) for module in modules]
    try:
        _regorus.Program.compile_from_modules("{}", sources, list(entry_points))
    except RuntimeError as exc:
        match = _COMPILE_ERROR.search(str(exc))
        if match:
            raise PolicyLoadError(f"{match.group('where')}: {match.group('message')}") from exc


def _set_data(engine: Any, data: Mapping[str, Any]) -> None:
    engine.clear_data()
    try:
        engine.add_data_json(json.dumps(data))
    except RuntimeError as exc:
        raise PolicyLoadError(f"data: {clean_engine_message(str(exc))}") from exc


class RegorusEngine:
    """Regorus behind the `Engine` port.

    A regorus engine may not leave the thread that made it, so each thread builds its own
    from the current snapshot on first use and after every reload; data changes (the
    inventory) are applied to existing engines without reparsing the modules.
    """

    name = "regorus"

    def __init__(self) -> None:
        self._engines: PerThreadEngines[Any] = PerThreadEngines(
            build=self._build, refresh_data=lambda engine, snap: _set_data(engine, snap.data)
        )

    @staticmethod
    def _build(snapshot: Snapshot) -> Any:
        return _new_engine(snapshot.modules, snapshot.data)

    def load(
        self,
        modules: Sequence[RegoModule],
        data: Mapping[str, Any],
        *,
        entry_points: Sequence[str] = (),
    ) -> None:
        # Parse everything here first: a bad set raises before any thread sees it.
        _new_engine(modules, data)
        if entry_points:
            _check_functions(modules, entry_points)
        self._engines.replace(modules, data)

    def set_document(self, key: str, value: Any) -> None:
        self._engines.set_document(key, value)

    def query(self, ref: str, input_document: Mapping[str, Any] | None = None) -> Any:
        engine = self._engines.get()
        try:
            engine.set_input_json(json.dumps(input_document if input_document is not None else {}))
            raw = engine.eval_query_as_json(ref)
        except RuntimeError as exc:
            raise EvaluationError(clean_engine_message(str(exc))) from exc
        return _first_value(json.loads(raw))

    def close(self) -> None:
        """Nothing to release: per-thread engines go with their threads."""


def _first_value(result: Mapping[str, Any]) -> Any:
    rows = result.get("result") or []
    if not rows:
        return UNDEFINED
    expressions = rows[0].get("expressions") or []
    return expressions[0].get("value") if expressions else UNDEFINED
