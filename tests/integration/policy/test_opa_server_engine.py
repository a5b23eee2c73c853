"""The opa-server engine against a local server speaking OPA's REST API, and against a real
OPA when $OPA_URL is set."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekeeper.policy.engine import RegoModule
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.engines.opa_server import OpaServerEngine
from gatekeeper.policy.errors import EngineUnavailable, PolicyLoadError
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.policy.gator import run_suite
from gatekeeper.policy.inputs import input_from_document

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[3]
LIBRARY = ROOT / "policies"
FIXTURES = sorted((ROOT / "tests" / "data" / "policy" / "fixtures").glob("*.yaml"))
SUITES = sorted((ROOT / "tests" / "data" / "gatekeeper").glob("*/suite.yaml"))
BROKEN = RegoModule(
    path="policies/broken.rego",
    source="package broken\n\nimport rego.v1\n\ndeny contains m if {\n\tm :=\n}\n",
)


def fixture_input(path: Path) -> dict[str, Any]:
    return input_from_document(yaml.safe_load(path.read_text()))


def test_decisions_over_rest_match_the_embedded_engine(opa_rest_server: Any) -> None:
    remote = PolicyEvaluator.from_paths(
        [LIBRARY], engine=create_engine("opa-server", opa_url=opa_rest_server.url)
    )
    local = PolicyEvaluator.from_paths([LIBRARY], engine=create_engine("regorus"))
    for fixture in FIXTURES:
        document = fixture_input(fixture)
        assert remote.evaluate(document) == local.evaluate(document), fixture.name
    methods = {method for method, _ in opa_rest_server.requests}
    assert {"PUT", "POST"} <= methods
    assert any(path.startswith("/v1/policies/gatekeeper/") for _, path in opa_rest_server.requests)


def test_gatekeeper_suites_pass_over_rest(opa_rest_server: Any) -> None:
    for suite in SUITES:
        report = run_suite(
            suite, engine_factory=lambda: OpaServerEngine.connect(opa_rest_server.url)
        )
        assert report.ok, [r.problems for r in report.results]


def test_a_rejected_module_names_file_and_line_and_the_old_set_stays(
    opa_rest_server: Any,
) -> None:
    engine = OpaServerEngine.connect(opa_rest_server.url)
    good = RegoModule(
        path="good.rego", source="package good\n\nimport rego.v1\n\nx := input.n + 1\n"
    )
    engine.load([good], {"config": {"n": 1}})
    # OPA points at the unexpected `}` (line 7), regorus at the assignment it ends (line 6).
    with pytest.raises(PolicyLoadError, match=r"policies/broken\.rego:[67]\b"):
        engine.load([BROKEN], {})
    assert engine.query("data.good.x", {"n": 41}) == 42
    assert set(opa_rest_server.modules) == {"gatekeeper/good.rego"}


def test_modules_that_left_the_set_are_deleted(opa_rest_server: Any) -> None:
    engine = OpaServerEngine.connect(opa_rest_server.url)
    first = RegoModule(path="a.rego", source="package a\n\nimport rego.v1\n\nx := 1\n")
    second = RegoModule(path="b.rego", source="package b\n\nimport rego.v1\n\ny := 2\n")
    engine.load([first, second], {})
    engine.load([second], {})
    assert set(opa_rest_server.modules) == {"gatekeeper/b.rego"}


def test_an_unreachable_server_is_reported_as_unavailable(opa_rest_server: Any) -> None:
    url = opa_rest_server.url
    opa_rest_server.stop()
    engine = OpaServerEngine.connect(url, timeout=0.5)
    with pytest.raises(EngineUnavailable):
        engine.load([], {"x": {}})


def test_a_real_opa_gives_the_embedded_decisions(real_opa_url: str) -> None:
    remote = PolicyEvaluator.from_paths(
        [LIBRARY], engine=create_engine("opa-server", opa_url=real_opa_url)
    )
    local = PolicyEvaluator.from_paths([LIBRARY], engine=create_engine("regorus"))
    for fixture in FIXTURES:
        document = fixture_input(fixture)
        assert remote.evaluate(document) == local.evaluate(document), fixture.name
    for suite in SUITES:
        assert run_suite(suite, engine_factory=lambda: OpaServerEngine.connect(real_opa_url)).ok
