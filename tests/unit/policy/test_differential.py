"""Every shipped policy, fixture and Gatekeeper suite gives the same answer on every embedded
engine: regorus's VM, regorus's interpreter, and OPA."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest
import yaml

from gatekeeper.policy.decision import Decision
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.policy.gator import run_suite
from gatekeeper.policy.inputs import Provenance, input_from_document
from gatekeeper.policy.policyset import load_policy_set
from gatekeeper.policy.testing import run_tests

from .conftest import (
    EMBEDDED_ENGINES,
    FIXTURES,
    GATEKEEPER_SUITES,
    LIBRARY,
    make_engine,
    require_opa,
)

FIXTURE_FILES = sorted(FIXTURES.glob("*.yaml"))
CONFIG = (
    "gatekeeper:\n  config:\n    allowed_registries: [registry.example.com/, docker.io/library/]\n"
)
PROVENANCES = {
    "unverified": Provenance(),
    "trusted": Provenance(source="apps", commit="f" * 40, verified=True, trusted=True),
}


@pytest.fixture(scope="module")
def configured_library(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    config = tmp_path_factory.mktemp("config")
    (config / "data.yaml").write_text(CONFIG)
    return [LIBRARY, config]


@cache
def _evaluator(engine_name: str, paths: tuple[Path, ...]) -> PolicyEvaluator:
    return PolicyEvaluator.from_paths(list(paths), engine=make_engine(engine_name))


def _decisions(paths: list[Path], document: dict[str, object]) -> dict[str, Decision]:
    require_opa()
    return {name: _evaluator(name, tuple(paths)).evaluate(document) for name in EMBEDDED_ENGINES}


@pytest.mark.parametrize("provenance", sorted(PROVENANCES))
@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda p: p.stem)
def test_every_fixture_gets_the_same_decision_on_every_engine(
    fixture: Path, provenance: str, configured_library: list[Path]
) -> None:
    document = input_from_document(yaml.safe_load(fixture.read_text()))
    if document["provenance"]["phase"] == "sync":
        document["provenance"] = PROVENANCES[provenance].to_input("sync")
    decisions = _decisions(configured_library, document)
    reference = decisions["regorus"]
    for name, decision in decisions.items():
        assert decision.to_dict()["messages"] == reference.to_dict()["messages"], name
        assert decision.allowed == reference.allowed


def test_the_fixtures_make_every_shipped_policy_speak(configured_library: list[Path]) -> None:
    fired: set[str] = set()
    for fixture in FIXTURE_FILES:
        document = input_from_document(yaml.safe_load(fixture.read_text()))
        fired |= {m.policy for m in _decisions(configured_library, document)["opa"].messages}
    policies = {p.id for p in load_policy_set([LIBRARY]).policies}
    assert policies - fired == set()


@pytest.mark.slow
def test_every_library_unit_test_has_the_same_outcome_on_every_engine() -> None:
    require_opa()
    outcomes = {}
    for name in EMBEDDED_ENGINES:
        report = run_tests(make_engine(name), [LIBRARY])
        outcomes[name] = {r.case.ref: r.outcome for r in report.results}
    reference = outcomes["regorus"]
    assert set(reference.values()) == {"pass"}
    assert all(result == reference for result in outcomes.values())


@pytest.mark.parametrize(
    "suite", sorted(GATEKEEPER_SUITES.glob("*/suite.yaml")), ids=lambda p: p.parent.name
)
def test_gatekeeper_suites_give_the_same_violations_on_every_engine(suite: Path) -> None:
    # As `policy verify` runs them: on regorus, a test the engines answer differently (a
    # regorus gap, tests/data/gatekeeper/undefinedargument) is decided by OPA.
    require_opa()
    violations = {
        name: [
            (r.test, r.case, sorted(r.violations))
            for r in run_suite(
                suite,
                engine_factory=lambda n=name: make_engine(n),
                compare_factory=lambda: make_engine("opa"),
            ).results
        ]
        for name in EMBEDDED_ENGINES
    }
    assert violations["regorus"] == violations["opa"] == violations["regorus-interpreter"]
