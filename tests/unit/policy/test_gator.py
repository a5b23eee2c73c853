from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gatekeeper.policy.engine import Engine
from gatekeeper.policy.gator import SuiteError, check_assertions, run_suite, verify_suites

from .conftest import GATEKEEPER_SUITES, make_engine, require_opa, write_files

SUITES = sorted(GATEKEEPER_SUITES.glob("*/suite.yaml"))


@pytest.mark.parametrize("suite", SUITES, ids=lambda p: p.parent.name)
def test_the_gatekeeper_suites_pass(
    suite: Path, engine_name: str, engine_factory: Callable[[], Engine]
) -> None:
    # On regorus, as `policy verify` runs it: each test is compared with embedded OPA.
    compare = (lambda: make_engine("opa")) if engine_name.startswith("regorus") else None
    report = run_suite(suite, engine_factory=engine_factory, compare_factory=compare)
    failures = [(r.test, r.case, r.problems, r.error) for r in report.results if not r.ok]
    assert failures == []
    assert report.ok and len(report.results) >= 2


# The suites written for one regorus gap each, and what `policy verify` must say about them.
REGORUS_GAPS = {
    "multilinecall": "Unknown function: 'input.parameters.maxReplicas'",
    "chainedbodies": "else cannot be used with set rules",
    "cidrmerge": "Unknown function: 'net.cidr_merge'",
    "undefinedargument": "the engines disagree on case nothing-is-reported-without-a-list",
}


@pytest.mark.parametrize("name", sorted(REGORUS_GAPS))
def test_regorus_gaps_are_decided_by_opa_and_said_so(name: str) -> None:
    require_opa()
    suite = GATEKEEPER_SUITES / name / "suite.yaml"
    report = run_suite(
        suite,
        engine_factory=lambda: make_engine("regorus"),
        compare_factory=lambda: make_engine("opa"),
    )
    assert report.ok
    assert any(REGORUS_GAPS[name] in reason for reason in report.fallbacks.values())


def test_without_the_comparison_regorus_gives_the_extra_violation() -> None:
    # The reason the comparison exists: regorus alone reports `not f(x, <undefined>)`.
    suite = GATEKEEPER_SUITES / "undefinedargument" / "suite.yaml"
    report = run_suite(suite, engine_factory=lambda: make_engine("regorus"))
    assert [r.case for r in report.results if not r.ok] == ["nothing-is-reported-without-a-list"]


def test_every_suite_is_reported_even_after_one_that_does_not_load(tmp_path: Path) -> None:
    write_files(
        tmp_path,
        {
            "broken/suite.yaml": "kind: Suite\ntests:\n  - name: t\n    template: missing.yaml\n"
            "    constraint: missing.yaml\n    cases: []\n",
            "notasuite/suite.yaml": "kind: Pod\n",
        },
    )
    paths = [
        tmp_path / "broken" / "suite.yaml",
        tmp_path / "notasuite" / "suite.yaml",
        GATEKEEPER_SUITES / "requiredlabels" / "suite.yaml",
    ]
    broken, not_a_suite, fine = verify_suites(paths, engine_factory=lambda: make_engine("regorus"))
    assert broken.load_failed and "no such file" in broken.results[0].error
    assert not_a_suite.load_failed and "kind Suite" in not_a_suite.error
    assert fine.ok and not fine.load_failed


def test_a_wrong_assertion_fails_its_case(
    tmp_path: Path, engine_factory: Callable[[], Engine]
) -> None:
    source = GATEKEEPER_SUITES / "requiredlabels"
    write_files(
        tmp_path,
        {
            "suite.yaml": f"""kind: Suite
apiVersion: test.gatekeeper.sh/v1alpha1
tests:
  - name: labels
    template: {source / "template.yaml"}
    constraint: {source / "constraint.yaml"}
    cases:
      - name: expects-none-but-gets-one
        object: {source / "missing.yaml"}
        assertions:
          - violations: no
      - name: skipped
        skip: true
        object: {source / "missing.yaml"}
""",
        },
    )
    report = run_suite(tmp_path / "suite.yaml", engine_factory=engine_factory)
    failed, skipped = report.results
    assert not report.ok
    assert failed.problems == ("assertion 0: expected 0 violations, got 1",)
    assert "you must provide labels" in failed.violations[0]
    assert skipped.skipped


def test_assertions_count_yes_no_numbers_and_messages() -> None:
    messages = ["container <a> bad", "container <b> bad", "other"]
    assert check_assertions([{"violations": "yes"}], messages, where="t") == []
    assert check_assertions([{"violations": 3}], messages, where="t") == []
    assert check_assertions([{"violations": 2, "message": "container"}], messages, where="t") == []
    assert check_assertions([{"violations": "no"}], [], where="t") == []
    assert check_assertions([], ["x"], where="t") == []
    assert check_assertions([{"message": "missing"}], messages, where="t") == [
        "assertion 0: expected violations matching 'missing', got none"
    ]


def test_a_bad_violations_value_is_a_suite_error() -> None:
    with pytest.raises(SuiteError, match="violations must be"):
        check_assertions([{"violations": "maybe"}], [], where="t")


def test_a_file_that_is_not_a_suite_is_refused(
    tmp_path: Path, engine_factory: Callable[[], Engine]
) -> None:
    write_files(tmp_path, {"suite.yaml": "kind: Pod\n"})
    with pytest.raises(SuiteError, match="kind Suite"):
        run_suite(tmp_path / "suite.yaml", engine_factory=engine_factory)
