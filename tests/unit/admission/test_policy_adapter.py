"""The policy port's Rego adapter: what the policies see of a review's provenance."""

from __future__ import annotations

from pathlib import Path

from gatekeeper.admission.policies import RegoPolicies
from gatekeeper.admission.ports import ProvenanceFacts
from gatekeeper.settings import load_settings
from tests.unit.admission.doubles import COMMIT, request

REPO_CHECK = """package team.origin

import rego.v1

deny contains sprintf("from %q", [input.provenance.repo]) if {
	input.provenance.source != ""
	input.provenance.repo != "https://git.example.com/shop/apps.git"
}
"""

CONFIG_MAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c", "namespace": "s"}}


def test_the_policies_see_the_sources_repository_at_admission_as_at_sync(tmp_path: Path) -> None:
    (tmp_path / "policies").mkdir()
    (tmp_path / "policies" / "origin.rego").write_text(REPO_CHECK)
    config = tmp_path / "gatekeeper.yaml"
    config.write_text(
        "policies:\n  paths: [policies/]\n"
        "sources:\n  - name: apps\n    repo: https://git.example.com/shop/apps.git\n"
        "    ref: main\n    path: deploy/\n    trust: trust.yaml\n"
    )
    policies = RegoPolicies.from_settings(load_settings(config))
    try:
        _check_repository(policies)
    finally:
        policies.close()


def _check_repository(policies: RegoPolicies) -> None:
    verified = ProvenanceFacts(source="apps", commit=COMMIT, verified=True, signer="alice")
    outcome = policies.evaluate(request("UPDATE", obj=CONFIG_MAP, old=CONFIG_MAP), verified)
    assert outcome.findings == ()
    unknown = ProvenanceFacts(source="elsewhere", commit=COMMIT, verified=True)
    outcome = policies.evaluate(request("UPDATE", obj=CONFIG_MAP, old=CONFIG_MAP), unknown)
    assert [f.message for f in outcome.findings] == ['from ""']
