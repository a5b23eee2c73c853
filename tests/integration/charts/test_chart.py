"""The Helm chart renders, yields a valid gatekeeper config, passes our own policy library,
and every object it makes is accepted by a real kube-apiserver (server-side dry run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.policy.inputs import Provenance, sync_input
from gatekeeper.settings import load_settings

helm_python = pytest.importorskip("helm_python", reason="the helm extra is not installed")

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "gitops-gatekeeper"
# The reconciler must be able to apply any kind, so its ClusterRole is a wildcard by design;
# provenance is what the policy input says, and a chart installed by hand has none.
NOT_FOR_THE_CHART = {"library.no_wildcard_rbac", "library.provenance_verified"}


def render(namespace: str, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    with helm_python.Chart.load(CHART) as chart:
        templates = chart.render(
            name="gk", namespace=namespace, is_install=True, values=values or {}
        )
    documents = []
    for name, text in sorted(templates.items()):
        if name.endswith(".yaml"):
            documents += [doc for doc in yaml.safe_load_all(text) if doc]
    return documents


def test_the_chart_renders_the_services_and_their_wiring() -> None:
    documents = render("gatekeeper-system")
    kinds = sorted(f"{doc['kind']}/{doc['metadata']['name']}" for doc in documents)
    assert kinds == [
        "ClusterRole/gk-reconciler",
        "ClusterRoleBinding/gk-reconciler",
        "ConfigMap/gk-config",
        "Deployment/gk-reconciler",
        "Deployment/gk-webhook",
        "Job/gk-db-upgrade",
        "PodDisruptionBudget/gk-webhook",
        "Service/gk-webhook",
        "ServiceAccount/gatekeeper",
        "ValidatingWebhookConfiguration/gk",
    ]
    webhook = next(d for d in documents if d["kind"] == "ValidatingWebhookConfiguration")
    (hook,) = webhook["webhooks"]
    assert hook["sideEffects"] == "NoneOnDryRun" and hook["failurePolicy"] == "Fail"
    assert hook["clientConfig"]["service"]["path"] == "/validate"
    excluded = hook["namespaceSelector"]["matchExpressions"][0]["values"]
    assert excluded == ["kube-system", "gatekeeper-system"]


def test_the_rendered_configuration_is_one_the_gatekeeper_accepts(tmp_path: Path) -> None:
    config_map = next(d for d in render("gatekeeper-system") if d["kind"] == "ConfigMap")
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(config_map["data"]["gatekeeper.yaml"])
    settings = load_settings(path)
    assert settings.admission.reconciler_identity == (
        "system:serviceaccount:gatekeeper-system:gatekeeper"
    )
    assert "gatekeeper-system" in settings.admission.exempt_namespaces
    assert settings.audit.signing_key_file is not None


def test_values_reach_the_configuration(tmp_path: Path) -> None:
    values = {
        "config": {
            "sources": [{"name": "apps", "repo": "https://git.example/x.git", "trust": "t.yaml"}]
        },
        "trustPolicies": {"t.yaml": "apiVersion: gatekeeper.dev/v1alpha1\nkind: TrustPolicy\n"},
        "database": {"urlSecret": {"name": "gk-db"}},
    }
    documents = render("gk", values)
    config_map = next(d for d in documents if d["kind"] == "ConfigMap")
    assert "TrustPolicy" in config_map["data"]["t.yaml"]
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(config_map["data"]["gatekeeper.yaml"])
    assert load_settings(path).sources[0].name == "apps"
    webhook = next(
        d for d in documents if d["metadata"]["name"] == "gk-webhook" and d["kind"] == "Deployment"
    )
    env = webhook["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {
        "name": "GATEKEEPER_DATABASE__URL",
        "valueFrom": {"secretKeyRef": {"name": "gk-db", "key": "url"}},
    } in env


def test_the_charts_objects_pass_the_shipped_policy_library() -> None:
    evaluator = PolicyEvaluator.from_paths([ROOT / "policies"], engine=create_engine("regorus"))
    trusted = Provenance(source="platform", commit="c" * 40, verified=True, trusted=True)
    judged = 0
    for manifest in render("gatekeeper-system"):
        decision = evaluator.evaluate(sync_input(manifest, provenance=trusted))
        denials = [m for m in decision.denials if m.policy not in NOT_FOR_THE_CHART]
        assert not denials, (manifest["kind"], [m.msg for m in denials])
        judged += decision.policies_evaluated > 0
    assert judged == 10


@pytest.mark.cluster
def test_a_real_api_server_accepts_every_object_in_a_dry_run(
    admin_api: Any, namespace: str
) -> None:
    from kubernetes import dynamic

    client = dynamic.DynamicClient(admin_api)
    for manifest in render(namespace):
        resource = client.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        kwargs = {"namespace": namespace} if resource.namespaced else {}
        client.create(resource, body=manifest, dry_run="All", **kwargs)


def test_the_policy_check_would_catch_an_unsafe_value() -> None:
    evaluator = PolicyEvaluator.from_paths([ROOT / "policies"], engine=create_engine("regorus"))
    trusted = Provenance(source="platform", commit="c" * 40, verified=True, trusted=True)
    unsafe = {"containerSecurityContext": {"privileged": True, "allowPrivilegeEscalation": True}}
    webhook = next(
        d
        for d in render("gatekeeper-system", unsafe)
        if d["kind"] == "Deployment" and d["metadata"]["name"] == "gk-webhook"
    )
    decision = evaluator.evaluate(sync_input(webhook, provenance=trusted))
    assert {m.policy for m in decision.denials} >= {
        "library.no_privileged",
        "library.no_privilege_escalation",
    }
