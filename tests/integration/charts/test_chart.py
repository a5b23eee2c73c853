"""The Helm chart renders, yields a valid gatekeeper config, passes our own policy library,
and every object it makes is accepted by a real kube-apiserver (server-side dry run); the
dashboard's roles grant on a real kube-apiserver what they say."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekeeper.dashboard.errors import Forbidden
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.policy.inputs import Provenance, sync_input
from gatekeeper.settings import load_settings
from tests.fixtures.cluster import Cluster, wait_for

helm_python = pytest.importorskip("helm_python", reason="the helm extra is not installed")

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "gitops-gatekeeper"
# The reconciler must be able to apply any kind, so its ClusterRole is a wildcard by design;
# provenance is what the policy input says, and a chart installed by hand has none.
NOT_FOR_THE_CHART = {"library.no_wildcard_rbac", "library.provenance_verified"}
RBAC_GROUP = "rbac.authorization.k8s.io"


# Every optional object switched on: the Ingress, the migration Job (PostgreSQL), bindings.
EVERYTHING: dict[str, Any] = {
    "database": {"urlSecret": {"name": "gk-db"}},
    "dashboard": {
        "tls": {"secretName": "gk-dashboard-tls"},
        "ingress": {
            "enabled": True,
            "className": "nginx",
            "host": "audit.example.com",
            "tls": {"secretName": "audit-example-com"},
        },
        "auditors": [{"kind": "Group", "name": "auditors", "apiGroup": RBAC_GROUP}],
        "reportMakers": [{"kind": "User", "name": "carol", "apiGroup": RBAC_GROUP}],
    },
}


def render(
    namespace: str, values: dict[str, Any] | None = None, *, release: str = "gk"
) -> list[dict[str, Any]]:
    with helm_python.Chart.load(CHART) as chart:
        templates = chart.render(
            name=release, namespace=namespace, is_install=True, values=values or {}
        )
    documents = []
    for name, text in sorted(templates.items()):
        if name.endswith(".yaml"):
            documents += [doc for doc in yaml.safe_load_all(text) if doc]
    return documents


def by_name(documents: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in documents if d["kind"] == kind and d["metadata"]["name"] == name)


def pod_spec(documents: list[dict[str, Any]], name: str) -> dict[str, Any]:
    spec: dict[str, Any] = by_name(documents, "Deployment", name)["spec"]["template"]["spec"]
    return spec


def test_the_chart_renders_the_services_and_their_wiring() -> None:
    documents = render("gatekeeper-system")
    kinds = sorted(f"{doc['kind']}/{doc['metadata']['name']}" for doc in documents)
    assert kinds == [
        "ClusterRole/gatekeeper-auditor",
        "ClusterRole/gatekeeper-report-maker",
        "ClusterRole/gk-dashboard",
        "ClusterRole/gk-reconciler",
        "ClusterRoleBinding/gk-dashboard",
        "ClusterRoleBinding/gk-reconciler",
        "ConfigMap/gk-config",
        "Deployment/gk-dashboard",
        "Deployment/gk-reconciler",
        "Deployment/gk-webhook",
        "PodDisruptionBudget/gk-webhook",
        "Service/gk-dashboard",
        "Service/gk-webhook",
        "ServiceAccount/gatekeeper",
        "ServiceAccount/gatekeeper-dashboard",
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
    assert settings.dashboard.host == "0.0.0.0"
    assert settings.dashboard.port == 8080
    assert settings.dashboard.auth == "kubernetes"
    assert settings.dashboard.tls_cert_file is None


def test_values_reach_the_configuration(tmp_path: Path) -> None:
    values = {
        "config": {
            "sources": [{"name": "apps", "repo": "https://git.example/x.git", "trust": "t.yaml"}],
            "dashboard": {"sessionMinutes": 60},
        },
        "trustPolicies": {"t.yaml": "apiVersion: gatekeeper.dev/v1alpha1\nkind: TrustPolicy\n"},
        "database": {"urlSecret": {"name": "gk-db"}},
        "dashboard": {"port": 9090, "tls": {"secretName": "gk-dashboard-tls"}},
    }
    documents = render("gk", values)
    config_map = next(d for d in documents if d["kind"] == "ConfigMap")
    assert "TrustPolicy" in config_map["data"]["t.yaml"]
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(config_map["data"]["gatekeeper.yaml"])
    settings = load_settings(path)
    assert settings.sources[0].name == "apps"
    assert settings.dashboard.session_minutes == 60
    assert settings.dashboard.port == 9090
    assert settings.dashboard.tls_cert_file == Path("/etc/gatekeeper-dashboard-tls/tls.crt")
    database_url = {
        "name": "GATEKEEPER_DATABASE__URL",
        "valueFrom": {"secretKeyRef": {"name": "gk-db", "key": "url"}},
    }
    for name in ("gk-webhook", "gk-reconciler", "gk-dashboard"):
        spec = pod_spec(documents, name)
        assert database_url in spec["containers"][0]["env"], name
        # One shared database, migrated once by the Job: no Pod migrates on its own.
        assert "initContainers" not in spec, name
    dashboard = pod_spec(documents, "gk-dashboard")["containers"][0]
    assert dashboard["ports"] == [{"name": "https", "containerPort": 9090}]
    assert dashboard["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    service = by_name(documents, "Service", "gk-dashboard")
    assert service["spec"]["ports"] == [{"name": "https", "port": 443, "targetPort": "https"}]


def test_a_shared_database_is_migrated_by_a_hook_that_needs_nothing_the_chart_makes() -> None:
    job = by_name(
        render("gk", {"database": {"urlSecret": {"name": "gk-db"}}}), "Job", "gk-db-upgrade"
    )
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    spec = job["spec"]["template"]["spec"]
    # A pre-install hook runs before the chart's ServiceAccount and ConfigMap exist.
    assert "serviceAccountName" not in spec and "volumes" not in spec
    assert spec["automountServiceAccountToken"] is False
    (container,) = spec["containers"]
    assert container["args"] == ["db", "upgrade"]
    assert [e["name"] for e in container["env"]] == ["GATEKEEPER_DATABASE__URL"]


def test_with_sqlite_every_pod_migrates_its_own_file_before_it_starts() -> None:
    documents = render("gk")
    assert not [d for d in documents if d["kind"] == "Job"]
    for name in ("gk-webhook", "gk-reconciler", "gk-dashboard"):
        spec = pod_spec(documents, name)
        (init,) = spec["initContainers"]
        assert init["args"] == ["db", "upgrade"]
        assert init["volumeMounts"] == spec["containers"][0]["volumeMounts"][:3]


def test_the_dashboard_has_a_service_account_that_may_only_ask_who_and_whether() -> None:
    documents = render("gatekeeper-system")
    spec = pod_spec(documents, "gk-dashboard")
    assert spec["serviceAccountName"] == "gatekeeper-dashboard"
    assert spec["containers"][0]["args"] == ["dashboard"]
    role = by_name(documents, "ClusterRole", "gk-dashboard")
    assert role["rules"] == [
        {
            "apiGroups": ["authentication.k8s.io"],
            "resources": ["tokenreviews"],
            "verbs": ["create"],
        },
        {
            "apiGroups": ["authorization.k8s.io"],
            "resources": ["subjectaccessreviews"],
            "verbs": ["create"],
        },
    ]
    binding = by_name(documents, "ClusterRoleBinding", "gk-dashboard")
    assert binding["subjects"] == [
        {"kind": "ServiceAccount", "name": "gatekeeper-dashboard", "namespace": "gatekeeper-system"}
    ]
    auditor = by_name(documents, "ClusterRole", "gatekeeper-auditor")
    maker = by_name(documents, "ClusterRole", "gatekeeper-report-maker")
    report = {"apiGroups": ["gatekeeper.dev"], "resources": ["reports"]}
    assert auditor["rules"] == [{**report, "verbs": ["get"]}]
    assert maker["rules"] == [{**report, "verbs": ["get", "create"]}]


def test_the_dashboard_probes_paths_that_answer_without_a_token() -> None:
    container = pod_spec(render("gk"), "gk-dashboard")["containers"][0]
    assert container["readinessProbe"]["httpGet"] == {
        "path": "/readyz",
        "port": "http",
        "scheme": "HTTP",
    }
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"


def test_the_dashboard_can_be_switched_off(tmp_path: Path) -> None:
    documents = render("gk", {"dashboard": {"enabled": False}})
    assert not [d for d in documents if "dashboard" in d["metadata"]["name"]]
    assert not [d for d in documents if d["metadata"]["name"].startswith("gatekeeper-")]
    config_map = next(d for d in documents if d["kind"] == "ConfigMap")
    assert "dashboard" not in yaml.safe_load(config_map["data"]["gatekeeper.yaml"])


def test_the_ingress_serves_the_dashboard_over_tls_on_its_host() -> None:
    documents = render("gk", EVERYTHING)
    ingress = by_name(documents, "Ingress", "gk-dashboard")
    assert ingress["spec"]["ingressClassName"] == "nginx"
    assert ingress["spec"]["tls"] == [
        {"hosts": ["audit.example.com"], "secretName": "audit-example-com"}
    ]
    (rule,) = ingress["spec"]["rules"]
    assert rule["host"] == "audit.example.com"
    (path,) = rule["http"]["paths"]
    assert path["backend"]["service"] == {"name": "gk-dashboard", "port": {"name": "https"}}
    bindings = {
        d["metadata"]["name"]: d["subjects"] for d in documents if d["kind"] == "ClusterRoleBinding"
    }
    assert bindings["gatekeeper-auditor"] == EVERYTHING["dashboard"]["auditors"]
    assert bindings["gatekeeper-report-maker"] == EVERYTHING["dashboard"]["reportMakers"]


@pytest.mark.parametrize(
    ("ingress", "refusal"),
    [
        ({"enabled": True, "host": "audit.example.com"}, "tls.secretName is required"),
        ({"enabled": True, "tls": {"secretName": "s"}}, "ingress.host is required"),
    ],
)
def test_an_ingress_without_tls_or_host_is_refused(ingress: dict[str, Any], refusal: str) -> None:
    with pytest.raises(helm_python.errors.HelmRenderError, match=refusal):
        render("gk", {"dashboard": {"ingress": ingress}})


@pytest.mark.parametrize("values", [{}, EVERYTHING], ids=["defaults", "everything"])
def test_the_charts_objects_pass_the_shipped_policy_library(values: dict[str, Any]) -> None:
    evaluator = PolicyEvaluator.from_paths([ROOT / "policies"], engine=create_engine("regorus"))
    trusted = Provenance(source="platform", commit="c" * 40, verified=True, trusted=True)
    documents = render("gatekeeper-system", values)
    judged = 0
    for manifest in documents:
        decision = evaluator.evaluate(sync_input(manifest, provenance=trusted))
        denials = [m for m in decision.denials if m.policy not in NOT_FOR_THE_CHART]
        assert not denials, (manifest["kind"], [m.msg for m in denials])
        judged += decision.policies_evaluated > 0
    assert judged == len(documents)


@pytest.mark.cluster
@pytest.mark.parametrize("values", [{}, EVERYTHING], ids=["defaults", "everything"])
def test_a_real_api_server_accepts_every_object_in_a_dry_run(
    admin_api: Any, namespace: str, values: dict[str, Any]
) -> None:
    from kubernetes import dynamic

    client = dynamic.DynamicClient(admin_api)
    for manifest in render(namespace, values):
        resource = client.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        kwargs = {"namespace": namespace} if resource.namespaced else {}
        client.create(resource, body=manifest, dry_run="All", **kwargs)


@pytest.fixture
def installed_dashboard_rbac(
    admin_api: Any, namespace: str
) -> Iterator[tuple[str, str, dict[str, str]]]:
    """The chart's dashboard RBAC created for real, under names of this test's own.

    alice is bound to the auditor role and breakglass to the report-maker role; yields the
    release name, the namespace and the role names.
    """
    from kubernetes import dynamic

    suffix = secrets.token_hex(4)
    release = f"rbac-{suffix}"
    roles = {"auditor": f"gatekeeper-auditor-{suffix}", "reportMaker": f"report-maker-{suffix}"}
    values = {
        "dashboard": {
            "roles": roles,
            "auditors": [{"kind": "User", "name": "alice", "apiGroup": RBAC_GROUP}],
            "reportMakers": [{"kind": "User", "name": "breakglass", "apiGroup": RBAC_GROUP}],
        }
    }
    wanted = {"ServiceAccount", "ClusterRole", "ClusterRoleBinding"}
    names = {release + "-dashboard", "gatekeeper-dashboard", *roles.values()}
    manifests = [
        d
        for d in render(namespace, values, release=release)
        if d["kind"] in wanted and d["metadata"]["name"] in names
    ]
    client = dynamic.DynamicClient(admin_api)
    created = []
    try:
        for manifest in manifests:
            resource = client.resources.get(
                api_version=manifest["apiVersion"], kind=manifest["kind"]
            )
            kwargs = {"namespace": namespace} if resource.namespaced else {}
            client.create(resource, body=manifest, **kwargs)
            if not resource.namespaced:
                created.append((resource, manifest["metadata"]["name"]))
        yield release, namespace, roles
    finally:
        for resource, name in created:
            client.delete(resource, name=name)


def _token(cluster: Cluster, user: str) -> str:
    document = yaml.safe_load(cluster.kubeconfigs[user].read_text())
    token: str = document["users"][0]["user"]["token"]
    return token


@pytest.mark.cluster
def test_the_auditor_role_lets_a_user_read_reports_but_not_make_them(
    cluster: Cluster, installed_dashboard_rbac: tuple[str, str, dict[str, str]]
) -> None:
    """The dashboard's own reviews, sent as its ServiceAccount, against the chart's roles."""
    from kubernetes import config

    from gatekeeper.dashboard.auth import KubernetesReviews, Principal
    from gatekeeper.kube.client import KubeClient

    if cluster.impersonate:
        pytest.skip("needs the static tokens of the local plane's users")
    _, namespace, _ = installed_dashboard_rbac
    api = config.new_client_from_config(config_file=str(cluster.admin_kubeconfig))
    # Everything the dashboard asks, it asks with its ServiceAccount's rights only.
    api.set_default_header(
        "Impersonate-User", f"system:serviceaccount:{namespace}:gatekeeper-dashboard"
    )
    dashboard = KubeClient(api)
    try:

        def may(who: Principal, verb: str) -> bool:
            try:
                # A fresh authenticator each time: answers are cached for 30 seconds.
                KubernetesReviews(dashboard).authorize(who, verb)  # type: ignore[arg-type]
            except Forbidden:
                return False
            return True

        alice = KubernetesReviews(dashboard).authenticate(_token(cluster, "alice"))
        breakglass = KubernetesReviews(dashboard).authenticate(_token(cluster, "breakglass"))
        assert alice.user == "alice" and breakglass.user == "breakglass"
        # RBAC answers from its informers' cache: a new binding takes a moment to count.
        wait_for(lambda: may(alice, "get") and may(breakglass, "create"), what="bindings")
        assert may(alice, "get")
        assert not may(alice, "create")
        assert may(breakglass, "get")
        assert not may(Principal(user=f"stranger-{secrets.token_hex(3)}"), "get")
    finally:
        dashboard.close()


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
