from __future__ import annotations

import threading

import pytest

from gatekeeper.policy.engine import UNDEFINED, Engine, RegoModule
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.errors import EngineUnavailable, EvaluationError, PolicyLoadError

GOOD = RegoModule(
    path="policies/good.rego",
    source="package good\n\nimport rego.v1\n\nanswer := input.x * data.factor\n",
)
SYNTAX_ERROR = RegoModule(
    path="policies/broken.rego",
    source="package broken\n\nimport rego.v1\n\ndeny contains msg if {\n\tinput.x ==\n}\n",
)
UNKNOWN_FUNCTION = RegoModule(
    path="policies/typo.rego",
    source=(
        "package typo\n\nimport rego.v1\n\ndeny contains msg if {\n\tinput.x == 1\n"
        '\tmsg := sprinf("%v", [input.x])\n}\n'
    ),
)
V0_TEMPLATE = RegoModule(
    path="template.yaml#k8sx",
    source='package k8sx\nviolation[{"msg": msg}] {\n  input.x > 1\n  msg := "too big"\n}\n',
    rego_v0=True,
)


def test_a_loaded_module_answers_queries(engine: Engine) -> None:
    engine.load([GOOD], {"factor": 3})
    assert engine.query("data.good.answer", {"x": 2}) == 6


def test_an_undefined_document_is_undefined_not_null(engine: Engine) -> None:
    engine.load([GOOD], {})
    assert engine.query("data.good.answer", {"x": 2}) is UNDEFINED
    assert engine.query("data.good.nothing", {}) is UNDEFINED


def test_v0_modules_load_next_to_v1_modules(engine: Engine) -> None:
    engine.load([GOOD, V0_TEMPLATE], {"factor": 1})
    assert engine.query("data.k8sx.violation", {"x": 2}) == [{"msg": "too big"}]


def test_a_syntax_error_names_the_file_and_line(engine: Engine) -> None:
    with pytest.raises(PolicyLoadError, match=r"policies/broken\.rego:7"):
        engine.load([GOOD, SYNTAX_ERROR], {})


def test_an_unknown_function_is_refused_at_load_naming_file_and_line(engine: Engine) -> None:
    with pytest.raises(PolicyLoadError, match=r"policies/typo\.rego:7.*sprinf"):
        engine.load([UNKNOWN_FUNCTION], {}, entry_points=["data.typo.deny"])


def test_a_failed_load_leaves_the_previous_modules_active(engine: Engine) -> None:
    engine.load([GOOD], {"factor": 2})
    with pytest.raises(PolicyLoadError):
        engine.load([SYNTAX_ERROR], {})
    assert engine.query("data.good.answer", {"x": 5}) == 10


def test_set_document_replaces_one_data_document(engine: Engine) -> None:
    engine.load([GOOD], {"factor": 2})
    engine.query("data.good.answer", {"x": 1})
    engine.set_document("factor", 7)
    assert engine.query("data.good.answer", {"x": 1}) == 7


def test_runtime_errors_are_evaluation_errors(engine: Engine) -> None:
    module = RegoModule(
        path="div.rego", source="package div\n\nimport rego.v1\n\nx := 1 / input.d\n"
    )
    engine.load([module], {})
    try:
        value = engine.query("data.div.x", {"d": 0})
    except EvaluationError as exc:
        assert "div" in str(exc)
    else:
        # OPA treats a failed builtin as undefined rather than an error.
        assert value is UNDEFINED


def test_threads_each_get_correct_answers(engine: Engine) -> None:
    engine.load([GOOD], {"factor": 10})
    results: dict[int, object] = {}

    def ask(number: int) -> None:
        for _ in range(20):
            results[number] = engine.query("data.good.answer", {"x": number})

    threads = [threading.Thread(target=ask, args=(n,)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == {n: n * 10 for n in range(6)}


def test_threads_see_a_reload_made_elsewhere(engine: Engine) -> None:
    engine.load([GOOD], {"factor": 1})
    seen: list[object] = []
    thread = threading.Thread(
        target=lambda: seen.append(engine.query("data.good.answer", {"x": 4}))
    )
    thread.start()
    thread.join()
    engine.load([GOOD], {"factor": 3})
    thread = threading.Thread(
        target=lambda: seen.append(engine.query("data.good.answer", {"x": 4}))
    )
    thread.start()
    thread.join()
    assert seen == [4, 12]


def test_unknown_engine_names_and_a_server_without_url_are_refused() -> None:
    with pytest.raises(EngineUnavailable, match="unknown policy engine"):
        create_engine("cedar")
    with pytest.raises(EngineUnavailable, match="opaUrl"):
        create_engine("opa-server")
