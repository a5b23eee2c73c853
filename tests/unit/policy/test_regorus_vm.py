from __future__ import annotations

from gatekeeper.policy.engine import RegoModule
from gatekeeper.policy.engines.regorus import RegorusEngine
from gatekeeper.policy.evaluator import POLICIES_REF, PolicyEvaluator
from gatekeeper.policy.inputs import sync_input

from .conftest import LIBRARY

UNDEFINED_IN_BODY = RegoModule(
    path="p.rego",
    source=(
        "package p\n\nimport rego.v1\n\n"
        "deny contains msg if {\n\tlimit := data.config.limit\n"
        '\tmsg := sprintf("limit %v", [limit])\n}\n'
    ),
)


def test_the_library_decision_runs_on_the_vm() -> None:
    engine = RegorusEngine()
    PolicyEvaluator.from_paths([LIBRARY], engine=engine)
    assert POLICIES_REF in engine.compiled_entry_points


def test_without_the_vm_nothing_is_compiled_for_it() -> None:
    engine = RegorusEngine(use_vm=False)
    PolicyEvaluator.from_paths([LIBRARY], engine=engine)
    assert engine.compiled_entry_points == frozenset()


def test_a_vm_answer_with_an_undefined_marker_is_decided_by_the_interpreter() -> None:
    engine = RegorusEngine()
    engine.load([UNDEFINED_IN_BODY], {}, entry_points=["data.p.deny"])
    assert engine.query("data.p.deny", sync_input({"kind": "Pod"})) == []
    engine.set_document("config", {"limit": 3})
    assert engine.query("data.p.deny", {}) == ["limit 3"]
