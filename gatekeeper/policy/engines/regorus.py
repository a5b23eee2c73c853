"""The default engine: regorus (Rust), embedded, one native engine per thread."""

from __future__ import annotations

import contextlib
import json
import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from gatekeeper.policy import rego_source
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

log = logging.getLogger(__name__)

# What regorus's VM puts where the interpreter would leave a value undefined; seeing it
# means the VM's answer cannot be trusted and the interpreter decides instead.
_VM_UNDEFINED = '"<undefined>"'
_COMPILE_ERROR = re.compile(
    r"-->\s*(?P<where>\S+:\d+:\d+)[^\n]*\n(?:(?!-->).*\n)*?"
    r"\s*error:\s*(?P<message>Unknown function[^\n]*)"
)


@dataclass(frozen=True)
class _Program:
    """A VM program compiled once per load, shared by threads as bytes."""

    binary: bytes
    entry_points: frozenset[str]


@dataclass
class _ThreadEngines:
    interpreter: Any
    vm: Any | None
    vm_entry_points: frozenset[str] = frozenset()


def _new_interpreter(modules: Sequence[RegoModule], data: Mapping[str, Any]) -> Any:
    if _regorus is None:
        raise EngineUnavailable("regorus is not installed (pip install gordon-to-regorus)")
    engine = _regorus.Engine()
    try:
        for module in modules:
            engine.set_rego_v0(module.rego_v0)
            try:
                engine.add_policy(module.path, rego_source.expand_import_aliases(module.source))
            except RuntimeError as exc:
                message = clean_engine_message(str(exc))
                if module.path not in message:
                    message = f"{module.path}: {message}"
                raise PolicyLoadError(message) from None
        engine.set_rego_v0(False)
        _set_interpreter_data(engine, data)
    except PolicyLoadError:
        # The error's traceback keeps this frame, and so the engine, alive wherever it is
        # caught; a regorus engine must be dropped on the thread that made it: here.
        del engine
        raise
    return engine


def _set_interpreter_data(engine: Any, data: Mapping[str, Any]) -> None:
    engine.clear_data()
    try:
        engine.add_data_json(json.dumps(data))
        return
    except RuntimeError as exc:
        message = f"data: {clean_engine_message(str(exc))}"
    del engine  # not kept alive by the error's traceback (see _new_interpreter)
    raise PolicyLoadError(message)


def _compile(
    modules: Sequence[RegoModule], data: Mapping[str, Any], entry_points: Sequence[str]
) -> _Program | None:
    """Compile for regorus's VM. Calls to unknown functions are load errors (the interpreter
    finds them only when evaluation reaches them); a set the compiler does not support yet
    (`with`, some builtins) simply runs on the interpreter."""
    assert _regorus is not None
    sources = [(m.path, rego_source.expand_import_aliases(m.as_v1())) for m in modules]
    try:
        program = _regorus.Program.compile_from_modules(
            json.dumps(data), sources, list(entry_points)
        )
    except RuntimeError as exc:
        match = _COMPILE_ERROR.search(str(exc))
        if match:
            raise PolicyLoadError(f"{match.group('where')}: {match.group('message')}") from exc
        return None
    return _Program(binary=bytes(program.serialize_binary()), entry_points=frozenset(entry_points))


# Rules of the shipped library defined more than once, whose definitions apply to disjoint
# inputs (by kind, by shape): they cannot conflict, and keep the set on the compiled mode.
_DISJOINT_BY_DESIGN = frozenset(
    {
        "data.library.no_default_namespace._in_default",
        "data.library.run_as_non_root._non_root",
        "data.library.run_as_non_root._user",
        "data.library.required_labels._applies",
        "data.library.no_wildcard_rbac._name",
        "data.library.lib.images.normalized",
        "data.library.lib.images._is_registry",
        "data.library.lib.kubernetes.pod_spec",
    }
)


def may_conflict(interpreter: Any) -> list[str]:
    """Complete rules and functions defined more than once in the loaded modules (besides
    the library's `_DISJOINT_BY_DESIGN`), as `data.<package>.<rule>` references.

    OPA fails an evaluation in which two definitions of one complete rule or function give
    different values (`eval_conflict_error`); the interpreter does the same, but regorus's
    VM leaves the rule undefined, and a `deny` that depends on it silently passes."""
    counts: dict[str, int] = {}
    for module in orjson.loads(interpreter.get_ast_as_json()):
        ast = module.get("ast") or {}
        package = _ref_text((ast.get("package") or {}).get("refr"))
        for rule in ast.get("rules") or ():
            head = (rule.get("Spec") or {}).get("head") or {}
            for kind in ("Compr", "Func"):
                if kind in head:
                    name = f"data.{package}.{_ref_text(head[kind].get('refr'))}"
                    counts[name] = counts.get(name, 0) + 1
    return sorted(
        name for name, count in counts.items() if count > 1 and name not in _DISJOINT_BY_DESIGN
    )


def _ref_text(ref: Any) -> str:
    """`a.b.c` of a reference in regorus's AST (`[...]` for a bracketed part)."""
    if not isinstance(ref, Mapping) or not ref:
        return "?"
    kind, value = next(iter(ref.items()))
    if kind == "Var":
        return str(value.get("value"))
    if kind == "RefDot":
        return f"{_ref_text(value.get('refr'))}.{value.get('field', [None, '?'])[1]}"
    if kind == "RefBrack":
        return f"{_ref_text(value.get('refr'))}[...]"
    return "?"


def _new_vm(program: _Program | None, data: Mapping[str, Any]) -> Any | None:
    if program is None or _regorus is None:
        return None
    vm = _regorus.Rvm()
    # deserialize_binary answers (program, needs_recompile); a program serialised by this
    # same build never needs recompiling.
    compiled, _ = _regorus.Program.deserialize_binary(program.binary)
    vm.load_program(compiled)
    vm.set_data_json(json.dumps(data))
    return vm


class RegorusEngine:
    """Regorus behind the `Engine` port.

    A regorus engine may not leave the thread that made it, so each thread builds its own
    from the current snapshot on first use and after every reload; data changes (the
    inventory) reach existing engines without reparsing the modules. Entry points given to
    `load` are also compiled for regorus's VM, which answers them about twice as fast as the
    interpreter; anything else, and any VM answer carrying an undefined marker, goes to the
    interpreter.
    """

    name = "regorus"

    def __init__(self, *, use_vm: bool = True) -> None:
        self._use_vm = use_vm
        self._engines: PerThreadEngines[_ThreadEngines] = PerThreadEngines(
            build=self._build, refresh_data=self._refresh_data
        )

    @staticmethod
    def _build(snapshot: Snapshot) -> _ThreadEngines:
        program: _Program | None = snapshot.extra
        vm = _new_vm(program, snapshot.data)
        return _ThreadEngines(
            interpreter=_new_interpreter(snapshot.modules, snapshot.data),
            vm=vm,
            vm_entry_points=program.entry_points if vm is not None and program else frozenset(),
        )

    @staticmethod
    def _refresh_data(engines: _ThreadEngines, snapshot: Snapshot) -> None:
        _set_interpreter_data(engines.interpreter, snapshot.data)
        if engines.vm is not None:
            engines.vm.set_data_json(json.dumps(snapshot.data))

    def load(
        self,
        modules: Sequence[RegoModule],
        data: Mapping[str, Any],
        *,
        entry_points: Sequence[str] = (),
    ) -> None:
        # Parse everything here first: a bad set raises before any thread sees it.
        interpreter = _new_interpreter(modules, data)
        # Compiled whether or not the VM runs it: compiling finds calls to unknown functions.
        program = _compile(modules, data, entry_points) if entry_points else None
        if program is not None and self._use_vm:
            conflicting = may_conflict(interpreter)
            if conflicting:
                log.warning(
                    "policies define %s more than once; where two definitions disagree, "
                    "regorus's compiled mode would leave the rule undefined instead of failing "
                    "the evaluation, so this set runs on the interpreter (several times "
                    "slower); an `else` chain or distinct names give the compiled mode back",
                    ", ".join(conflicting),
                )
                program = None
        del interpreter  # built on this thread: dropped here
        self._engines.replace(modules, data, extra=program if self._use_vm else None)

    @property
    def compiled_entry_points(self) -> frozenset[str]:
        """The refs the VM answers for the current set (empty when it runs interpreted)."""
        program: _Program | None = self._engines.snapshot.extra
        return program.entry_points if program is not None else frozenset()

    def set_document(self, key: str, value: Any) -> None:
        self._engines.set_document(key, value)

    def query(self, ref: str, input_document: Mapping[str, Any] | None = None) -> Any:
        engines = self._engines.get()
        input_json = _input_json(input_document if input_document is not None else {})
        if engines.vm is not None and ref in engines.vm_entry_points:
            try:
                engines.vm.set_input_json(input_json)
                raw = engines.vm.execute_entry_point(ref)
            except RuntimeError:
                raw = None
            if raw is not None and _VM_UNDEFINED not in raw:
                return orjson.loads(raw)
        try:
            engines.interpreter.set_input_json(input_json)
            raw = engines.interpreter.eval_query_as_json(ref)
        except RuntimeError as exc:
            raise EvaluationError(clean_engine_message(str(exc))) from exc
        return _first_value(orjson.loads(raw))

    def close(self) -> None:
        """Nothing to release: per-thread engines go with their threads."""


def _input_json(document: Mapping[str, Any]) -> str:
    """The input as JSON text.

    An admission input comes from a review body the webhook parsed as strict JSON (no NaN or
    Infinity, string keys), so orjson, at an eighth of the cost of `json`, writes exactly
    what `json` would mean; it knows only 64-bit integers, so anything it refuses goes to
    `json` too. Other inputs (YAML manifests, files) may hold non-finite numbers, which
    `json` writes as the invalid tokens the engine refuses, as it always has."""
    provenance = document.get("provenance")
    if isinstance(provenance, Mapping) and provenance.get("phase") == "admission":
        with contextlib.suppress(TypeError):
            return orjson.dumps(document).decode("utf-8")
    return json.dumps(document)


def _first_value(result: Mapping[str, Any]) -> Any:
    rows = result.get("result") or []
    if not rows:
        return UNDEFINED
    expressions = rows[0].get("expressions") or []
    return expressions[0].get("value") if expressions else UNDEFINED
