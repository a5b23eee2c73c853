"""Templates regorus refuses run on embedded OPA, next to everything regorus runs."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from gatekeeper.policy.errors import PolicyLoadError
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.policy.inputs import sync_input
from gatekeeper.policy.policyset import load_policy_set

from .conftest import GATEKEEPER_SUITES, LIBRARY, make_engine, require_opa, write_files

CIDR = GATEKEEPER_SUITES / "cidrmerge"
CHAINED = GATEKEEPER_SUITES / "chainedbodies"
LABELS = GATEKEEPER_SUITES / "requiredlabels"


def load(path: Path) -> dict[str, object]:
    return dict(yaml.safe_load(path.read_text()))


def evaluator_for(*paths: Path) -> PolicyEvaluator:
    return PolicyEvaluator(engine=make_engine("regorus"), policy_set=load_policy_set(list(paths)))


def test_refused_templates_run_on_opa_beside_the_rest() -> None:
    require_opa()
    evaluator = evaluator_for(
        CIDR / "template.yaml",
        CIDR / "constraint.yaml",
        CHAINED / "template.yaml",
        CHAINED / "constraint.yaml",
        LABELS / "template.yaml",
        LABELS / "constraint.yaml",
        LIBRARY,
    )
    assert set(evaluator.fallbacks) == {"K8sEgressRanges", "K8sProbesDeclared"}
    assert "net.cidr_merge" in evaluator.fallbacks["K8sEgressRanges"]
    apart = evaluator.evaluate(sync_input(load(CIDR / "apart.yaml")))
    assert "K8sEgressRanges/one-range" in {m.policy for m in apart.messages}
    adjacent = evaluator.evaluate(sync_input(load(CIDR / "adjacent.yaml")))
    assert "K8sEgressRanges/one-range" not in {m.policy for m in adjacent.messages}
    pod = evaluator.evaluate(sync_input(load(CHAINED / "none.yaml")))
    policies = {m.policy for m in pod.messages}
    assert "K8sProbesDeclared/probes" in policies
    # The library's policies still run on regorus in the same decision.
    assert any(p.startswith("library.") for p in policies)
    namespace = evaluator.evaluate(sync_input(load(LABELS / "missing.yaml")))
    assert any(m.policy.startswith("K8sRequiredLabels") for m in namespace.messages)


def test_a_set_regorus_runs_whole_has_no_fallbacks() -> None:
    evaluator = evaluator_for(LABELS / "template.yaml", LABELS / "constraint.yaml")
    assert evaluator.fallbacks == {}


def test_a_template_no_engine_accepts_is_refused_with_regorus_error(tmp_path: Path) -> None:
    template = (CIDR / "template.yaml").read_text().replace("net.cidr_merge(ranges)", "(ranges")
    write_files(tmp_path, {"template.yaml": template})
    with pytest.raises(PolicyLoadError) as raised:
        evaluator_for(tmp_path / "template.yaml", CIDR / "constraint.yaml")
    assert "template.yaml#k8segressranges:24:" in str(raised.value)


def test_a_broken_set_is_not_half_installed_on_reload() -> None:
    require_opa()
    evaluator = evaluator_for(CIDR / "template.yaml", CIDR / "constraint.yaml")
    with pytest.raises(PolicyLoadError):
        evaluator.replace(load_policy_set([LIBRARY / "no_such_folder"]))
    assert set(evaluator.fallbacks) == {"K8sEgressRanges"}
    decision = evaluator.evaluate(sync_input(load(CIDR / "adjacent.yaml")))
    assert decision.allowed
