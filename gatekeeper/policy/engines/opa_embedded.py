"""The embedded OPA engine (Go, through `opa-golib-python-bindings`), optional."""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from typing import Any

from gatekeeper.policy.engine import UNDEFINED, RegoModule
from gatekeeper.policy.errors import EngineUnavailable, EvaluationError, PolicyLoadError

try:
    import opa_bindings as _opa
except ImportError:
    _opa = None

INSTALL_HINT = (
    "the embedded OPA engine is not installed; its package declares Python >= 3.14, so install "
    "it with: pip install --ignore-requires-python opa-golib-python-bindings"
)


def available() -> bool:
    """Whether the OPA bindings can be imported here."""
    return _opa is not None


class OpaEmbeddedEngine:
    """OPA itself, embedded. OPA parses only Rego v1, so v0 modules (Gatekeeper templates) are
    upgraded first. One native engine is shared by all threads (it serialises evaluations);
    a reload builds and compiles a fresh engine before it replaces the old one.
    """

    name = "opa"

    def __init__(self) -> None:
        if _opa is None:
            raise EngineUnavailable(INSTALL_HINT)
        self._lock = threading.Lock()
        self._modules: tuple[RegoModule, ...] = ()
        self._data: dict[str, Any] = {}
        self._engine: Any = self._build((), {})

    @staticmethod
    def _build(modules: Sequence[RegoModule], data: Mapping[str, Any]) -> Any:
        assert _opa is not None
        engine = _opa.OpaEngine()
        engine.print_handler = lambda message, location: None
        try:
            for module in modules:
                engine.add_policy(module.path, module.as_v1())
            if data:
                engine.add_data(dict(data))
            # Compilation (type checks, unknown functions) happens when a query is prepared.
            engine.eval_query("true")
        except _opa.OpaError as exc:
            engine.close()
            raise PolicyLoadError(_opa_message(exc)) from exc
        return engine

    def load(
        self,
        modules: Sequence[RegoModule],
        data: Mapping[str, Any],
        *,
        entry_points: Sequence[str] = (),
    ) -> None:
        engine = self._build(modules, data)
        with self._lock:
            # The old engine is not closed here: a query in another thread may still hold
            # it; the bindings close it when the last reference goes.
            self._engine = engine
            self._modules, self._data = tuple(modules), dict(data)

    def set_document(self, key: str, value: Any) -> None:
        with self._lock:
            data = dict(self._data)
            data[key] = value
            modules = self._modules
        self.load(modules, data)

    def query(self, ref: str, input_document: Mapping[str, Any] | None = None) -> Any:
        assert _opa is not None
        engine = self._engine
        try:
            rows = engine.eval_query(f"__result := {ref}", dict(input_document or {}))
        except _opa.OpaError as exc:
            raise EvaluationError(_opa_message(exc)) from exc
        if not rows:
            return UNDEFINED
        return rows[0].get("__result", UNDEFINED)

    def close(self) -> None:
        with self._lock:
            self._engine.close()


def _opa_message(exc: Any) -> str:
    message = str(getattr(exc, "message", exc)).replace("bundle activation failed: ", "")
    return re.sub(r"^\d+ errors? occurred:\s*", "", message.strip())
