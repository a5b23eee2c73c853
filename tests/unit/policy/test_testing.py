from __future__ import annotations

from pathlib import Path

import pytest

from gatekeeper.policy.engine import Engine
from gatekeeper.policy.errors import PolicyLoadError
from gatekeeper.policy.policyset import load_policy_set
from gatekeeper.policy.testing import discover_tests, run_tests

from .conftest import LIBRARY, write_files

POLICY = """package team.sizes

import rego.v1

deny contains "too many replicas" if input.review.object.spec.replicas > data.limits.replicas
"""

TESTS = """package team.sizes_test

import rego.v1

import data.team.sizes

test_few_replicas_pass if {
	count(sizes.deny) == 0 with input as {"review": {"object": {"spec": {"replicas": 2}}}}
}

test_many_replicas_are_denied if {
	sizes.deny["too many replicas"] with input as {"review": {"object": {"spec": {"replicas": 9}}}}
}

test_the_limit_can_be_overridden if {
	obj := {"review": {"object": {"spec": {"replicas": 9}}}}
	count(sizes.deny) == 0 with input as obj with data.limits.replicas as 10
}

test_a_wrong_expectation_fails if {
	count(sizes.deny) == 1 with input as {"review": {"object": {"spec": {"replicas": 1}}}}
}
"""


@pytest.mark.slow
def test_the_library_tests_all_pass(engine: Engine) -> None:
    report = run_tests(engine, [LIBRARY])
    assert report.count("pass") == len(report.results) >= 60
    assert report.ok


def test_outcomes_are_reported_per_test(tmp_path: Path, engine: Engine) -> None:
    write_files(
        tmp_path,
        {"sizes.rego": POLICY, "sizes_test.rego": TESTS, "data.yaml": "limits: {replicas: 3}\n"},
    )
    report = run_tests(engine, [tmp_path])
    outcomes = {r.case.name: r.outcome for r in report.results}
    assert outcomes == {
        "test_few_replicas_pass": "pass",
        "test_many_replicas_are_denied": "pass",
        "test_the_limit_can_be_overridden": "pass",
        "test_a_wrong_expectation_fails": "fail",
    }
    assert not report.ok
    assert all(r.case.path.endswith("sizes_test.rego") for r in report.results)


def test_a_test_that_raises_is_an_error(tmp_path: Path, engine: Engine) -> None:
    write_files(
        tmp_path,
        {"x_test.rego": 'package x_test\n\nimport rego.v1\n\ntest_boom if to_number("x") == 1\n'},
    )
    (result,) = run_tests(engine, [tmp_path]).results
    # OPA turns a failed builtin into undefined, regorus raises: either way it does not pass.
    assert result.outcome in ("error", "fail")


def test_the_run_filter_selects_tests_by_name(tmp_path: Path) -> None:
    write_files(tmp_path, {"sizes.rego": POLICY, "sizes_test.rego": TESTS})
    cases = discover_tests(load_policy_set([tmp_path], include_tests=True), run="overridden$")
    assert [c.name for c in cases] == ["test_the_limit_can_be_overridden"]


def test_a_broken_test_file_stops_the_run_naming_its_line(tmp_path: Path, engine: Engine) -> None:
    write_files(tmp_path, {"sizes.rego": POLICY, "sizes_test.rego": TESTS + "test_x if {\n"})
    with pytest.raises(PolicyLoadError, match=r"sizes_test\.rego:\d+"):
        run_tests(engine, [tmp_path])
