from __future__ import annotations

import math
from pathlib import Path

import pytest

from gatekeeper.policy.engine import RegoModule
from gatekeeper.policy.engines.regorus import RegorusEngine
from gatekeeper.policy.errors import EvaluationError, PolicyLoadError
from gatekeeper.policy.evaluator import POLICIES_REF, PolicyEvaluator
from gatekeeper.policy.inputs import admission_input, sync_input

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


ECHO = RegoModule(
    path="echo.rego",
    source="package echo\n\nimport rego.v1\n\nvalue := input.review.object.data.x\n",
)


def test_admission_inputs_reach_the_engine_whole_whatever_their_numbers() -> None:
    # orjson writes admission inputs; an integer it cannot write goes through json instead.
    engine = RegorusEngine()
    engine.load([ECHO], {}, entry_points=["data.echo.value"])
    for x in (7, 2**70, 1.5, "text", [1, {"a": None}]):
        document = admission_input(
            {"operation": "CREATE", "object": {"kind": "ConfigMap", "data": {"x": x}}}
        )
        assert engine.query("data.echo.value", document) == x


def test_a_sync_input_with_a_number_json_cannot_write_still_fails_to_evaluate() -> None:
    engine = RegorusEngine()
    engine.load([ECHO], {}, entry_points=["data.echo.value"])
    with pytest.raises(EvaluationError):
        engine.query("data.echo.value", sync_input({"kind": "ConfigMap", "data": {"x": math.nan}}))


CONFLICTING = RegoModule(
    path="team/owner.rego",
    source="""package team.owner

import rego.v1

tier := "restricted" if input.review.object.metadata.labels.env == "prod"
tier := "open" if input.review.object.metadata.labels.sandbox == "true"

deny contains "prod objects need an owner label" if {
	tier == "restricted"
	not input.review.object.metadata.labels.owner
}
""",
)


def test_two_definitions_that_disagree_fail_the_evaluation_as_in_opa(tmp_path: Path) -> None:
    """The compiled mode left the rule undefined, and the deny that needs it passed."""
    (tmp_path / "owner.rego").write_text(CONFLICTING.source)
    engine = RegorusEngine()
    evaluator = PolicyEvaluator.from_paths([tmp_path], engine=engine)
    assert engine.compiled_entry_points == frozenset()
    both = {"kind": "ConfigMap", "metadata": {"labels": {"env": "prod", "sandbox": "true"}}}
    with pytest.raises(EvaluationError, match=r"rule conflicts with rule"):
        evaluator.evaluate(sync_input(both))
    prod = {"kind": "ConfigMap", "metadata": {"labels": {"env": "prod"}}}
    assert [m.msg for m in evaluator.evaluate(sync_input(prod)).messages] == [
        "prod objects need an owner label"
    ]


def test_a_set_left_to_the_interpreter_still_refuses_unknown_functions_at_load(
    tmp_path: Path,
) -> None:
    """Compiling finds them before any evaluation reaches them, VM or not."""
    unknown = CONFLICTING.source + (
        '\nwarn contains "x" if {\n\tinput.review.object.kind == "Never"\n'
        "\tnot_a_builtin(input)\n}\n"
    )
    (tmp_path / "owner.rego").write_text(unknown)
    with pytest.raises(PolicyLoadError, match=r"not_a_builtin"):
        PolicyEvaluator.from_paths([tmp_path], engine=RegorusEngine())
