from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from gatekeeper.policy.engine import Engine
from gatekeeper.policy.gator import SuiteError, check_assertions, run_suite

from .conftest import GATEKEEPER_SUITES, write_files

SUITES = sorted(GATEKEEPER_SUITES.glob("*/suite.yaml"))


@pytest.mark.parametrize("suite", SUITES, ids=lambda p: p.parent.name)
def test_the_gatekeeper_suites_pass(suite: Path, engine_factory: Callable[[], Engine]) -> None:
    report = run_suite(suite, engine_factory=engine_factory)
    failures = [(r.test, r.case, r.problems) for r in report.results if not r.ok]
    assert failures == []
    assert report.ok and len(report.results) >= 3


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
