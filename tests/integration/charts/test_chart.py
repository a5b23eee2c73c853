"""The Helm chart renders, yields a valid gatekeeper config, passes our own policy library,
and every object it makes is accepted by a real kube-apiserver (server-side dry run); the
dashboard's roles and the checkpoint witness's grant on a real kube-apiserver what they say."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.audit import chain
from gatekeeper.audit.errors import WitnessConflict, WitnessError, WitnessUnavailable
from gatekeeper.audit.signing import Signer, checkpoint_message
from gatekeeper.audit.store import Checkpoint
from gatekeeper.dashboard.errors import Forbidden
from gatekeeper.devcluster.pki import CertificateAuthority
from gatekeeper.policy.engines import create_engine
from gatekeeper.policy.evaluator import PolicyEvaluator
from gatekeeper.policy.inputs import Provenance, sync_input
from gatekeeper.settings import Settings, load_settings
from tests.fixtures.cluster import Cluster, wait_for

helm_python = pytest.importorskip("helm_python", reason="the helm extra is not installed")

ROOT = Path(__file__).resolve().parents[3]
CHART = ROOT / "charts" / "gitops-gatekeeper"
# The reconciler must be able to apply any kind, so its ClusterRole is a wildcard by design;
# provenance is what the policy input says, and a chart installed by hand has none.
NOT_FOR_THE_CHART = {"library.no_wildcard_rbac", "library.provenance_verified"}
RBAC_GROUP = "rbac.authorization.k8s.io"


# A shared database, which every witness needs: SQLite gives each Pod a log of its own.
POSTGRES: dict[str, Any] = {"database": {"urlSecret": {"name": "gk-db"}}}
FOLDER_WITNESS: dict[str, Any] = {
    **POSTGRES,
    "audit": {
        "witness": {
            "configMap": {"enabled": False},
            "folder": {"volume": {"persistentVolumeClaim": {"claimName": "audit-witness"}}},
        }
    },
}
WITNESS_NAME = "gatekeeper-audit-witness"
CONFIG_MAP_RULE = {"apiGroups": [""], "resources": ["configmaps"]}

# Every optional object switched on: the Ingress, the migration Job (PostgreSQL) and with it
# the witness's roles, bindings, the webhook's client CA given inline (a ConfigMap) and the
# NetworkPolicy's sources.
EVERYTHING: dict[str, Any] = {
    **POSTGRES,
    "webhook": {
        "clientAuth": {
            "caPem": CertificateAuthority.create(
                "kube-apiserver webhook-client CA"
            ).cert_pem.decode(),
            "names": ["kube-apiserver"],
        }
    },
    "networkPolicy": {
        "apiServer": [{"ipBlock": {"cidr": "10.0.0.0/24"}}],
        "metrics": {"namespaceSelector": {"matchLabels": {"team": "monitoring"}}},
    },
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


def configuration(documents: list[dict[str, Any]], folder: Path) -> Settings:
    """The rendered gatekeeper.yaml, loaded as the gatekeeper loads it."""
    config_map = by_name(documents, "ConfigMap", "gk-config")
    path = folder / "gatekeeper.yaml"
    path.write_text(config_map["data"]["gatekeeper.yaml"])
    return load_settings(path)


def notes(values: dict[str, Any]) -> str:
    with helm_python.Chart.load(CHART) as chart:
        templates = chart.render(name="gk", namespace="gk", is_install=True, values=values)
    return next(text for name, text in templates.items() if name.endswith("NOTES.txt"))


def witness_roles(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The witness's Roles and RoleBindings by kind/name."""
    return {
        f"{d['kind']}/{d['metadata']['name']}": d
        for d in documents
        if d["kind"] in ("Role", "RoleBinding") and "witness" in d["metadata"]["name"]
    }


def test_the_chart_renders_the_services_and_their_wiring() -> None:
    documents = render("gatekeeper-system")
    kinds = sorted(f"{doc['kind']}/{doc['metadata']['name']}" for doc in documents)
    assert kinds == [
        "ClusterRole/gatekeeper-auditor",
        "ClusterRole/gatekeeper-report-maker",
        "ClusterRole/gk-dashboard",
        "ClusterRole/gk-namespace-labels",
        "ClusterRole/gk-reconciler",
        "ClusterRole/gk-webhook-certs",
        "ClusterRoleBinding/gk-dashboard",
        "ClusterRoleBinding/gk-namespace-labels",
        "ClusterRoleBinding/gk-reconciler",
        "ClusterRoleBinding/gk-webhook-certs",
        "ConfigMap/gk-config",
        "ConfigMap/gk-policy-data",
        "Deployment/gk-dashboard",
        "Deployment/gk-reconciler",
        "Deployment/gk-webhook",
        "Job/gk-namespace-labels",
        "NetworkPolicy/gk-webhook",
        "PodDisruptionBudget/gk-webhook",
        "Role/gk-webhook-certs",
        "RoleBinding/gk-webhook-certs",
        "Service/gk-dashboard",
        "Service/gk-webhook",
        "ServiceAccount/gatekeeper",
        "ServiceAccount/gatekeeper-dashboard",
        "ServiceAccount/gk-namespace-labels",
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
        migrating = [c for c in spec.get("initContainers", []) if c["args"] == ["db", "upgrade"]]
        assert not migrating, name
    dashboard = pod_spec(documents, "gk-dashboard")["containers"][0]
    assert dashboard["ports"] == [{"name": "https", "containerPort": 9090, "protocol": "TCP"}]
    assert dashboard["readinessProbe"]["httpGet"]["scheme"] == "HTTPS"
    service = by_name(documents, "Service", "gk-dashboard")
    assert service["spec"]["ports"] == [
        {"name": "https", "port": 443, "targetPort": "https", "protocol": "TCP"}
    ]


def test_the_writers_share_one_secret_digest_key_from_the_audit_key_secret(
    tmp_path: Path,
) -> None:
    values = {"audit": {"checkpointMaxAge": "10m", "checkpointMaxUncovered": 5000}}
    documents = render("gk", values)
    settings = configuration(documents, tmp_path)
    key_file = settings.audit.secret_digest_key_file
    assert key_file is not None
    assert settings.audit.checkpoint_max_age == 600
    assert settings.audit.checkpoint_max_uncovered == 5000
    # Both writers read it from the same Secret, so they digest Secret values alike.
    for name in ("gk-webhook", "gk-reconciler"):
        spec = pod_spec(documents, name)
        mounts = {m["name"]: m["mountPath"] for m in spec["containers"][0]["volumeMounts"]}
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert key_file.parent == Path(mounts["audit-key"]), name
        assert volumes["audit-key"]["secret"]["secretName"] == "gatekeeper-audit-key", name


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
    assert not [
        d for d in documents if d["kind"] == "Job" and "db-upgrade" in d["metadata"]["name"]
    ]
    for name in ("gk-webhook", "gk-reconciler", "gk-dashboard"):
        spec = pod_spec(documents, name)
        init = spec["initContainers"][0]
        assert init["args"] == ["db", "upgrade"]
        # The same shared mounts as the server (the SQLite file's folder among them).
        shared = init["volumeMounts"]
        assert shared == spec["containers"][0]["volumeMounts"][: len(shared)]
        assert {"name": "data", "mountPath": "/var/lib/gatekeeper"} in shared


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


def test_with_a_shared_database_checkpoints_are_witnessed_in_config_maps_by_default(
    tmp_path: Path,
) -> None:
    documents = render("gatekeeper-system", POSTGRES)
    witness = configuration(documents, tmp_path).audit.witness
    assert witness is not None and witness.folder is None and witness.git is None
    assert witness.config_map == f"gatekeeper-system/{WITNESS_NAME}"
    # One configuration for all three: the webhook and the reconciler sign checkpoints and
    # write them, the dashboard holds the log against them.
    for name in ("gk-webhook", "gk-reconciler", "gk-dashboard"):
        volumes = pod_spec(documents, name)["volumes"]
        assert {"name": "config", "configMap": {"name": "gk-config"}} in volumes, name
    roles = witness_roles(documents)
    assert sorted(roles) == [
        "Role/gk-witness-reader",
        "Role/gk-witness-writer",
        "RoleBinding/gk-witness-reader",
        "RoleBinding/gk-witness-writer",
    ]
    assert {role["metadata"]["namespace"] for role in roles.values()} == {"gatekeeper-system"}
    writer, reader = roles["Role/gk-witness-writer"], roles["Role/gk-witness-reader"]
    assert writer["rules"] == [{**CONFIG_MAP_RULE, "verbs": ["get", "list", "create", "update"]}]
    assert reader["rules"] == [{**CONFIG_MAP_RULE, "verbs": ["get", "list"]}]
    assert roles["RoleBinding/gk-witness-writer"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "gatekeeper", "namespace": "gatekeeper-system"}
    ]
    assert roles["RoleBinding/gk-witness-reader"]["subjects"] == [
        {"kind": "ServiceAccount", "name": "gatekeeper-dashboard", "namespace": "gatekeeper-system"}
    ]
    assert f"--witness configmap:gk/{WITNESS_NAME}" in notes(POSTGRES)


def test_with_sqlite_no_witness_is_configured_and_the_notes_say_so(tmp_path: Path) -> None:
    documents = render("gk")
    assert configuration(documents, tmp_path).audit.witness is None
    assert not witness_roles(documents)
    assert "No checkpoint is written outside the database" in notes({})


def test_the_witness_can_keep_its_config_maps_in_a_namespace_of_its_own(tmp_path: Path) -> None:
    values = {**POSTGRES, "audit": {"witness": {"configMap": {"namespace": "gk-audit"}}}}
    documents = render("gatekeeper-system", values)
    settings = configuration(documents, tmp_path)
    assert settings.audit.witness is not None
    assert settings.audit.witness.config_map == f"gk-audit/{WITNESS_NAME}"
    roles = witness_roles(documents)
    assert {role["metadata"]["namespace"] for role in roles.values()} == {"gk-audit"}
    for binding in ("RoleBinding/gk-witness-writer", "RoleBinding/gk-witness-reader"):
        assert roles[binding]["subjects"][0]["namespace"] == "gatekeeper-system"
    # Reviewing the witness's own writes would record each, so the log would never stop growing.
    assert "gk-audit" in settings.admission.exempt_namespaces
    webhook = next(d for d in documents if d["kind"] == "ValidatingWebhookConfiguration")
    excluded = webhook["webhooks"][0]["namespaceSelector"]["matchExpressions"][0]["values"]
    assert excluded == ["kube-system", "gatekeeper-system", "gk-audit"]


def test_the_witness_can_be_switched_off_and_the_notes_warn(tmp_path: Path) -> None:
    values = {**POSTGRES, "audit": {"witness": {"configMap": {"enabled": False}}}}
    documents = render("gk", values)
    assert configuration(documents, tmp_path).audit.witness is None
    assert not witness_roles(documents)
    assert "WARNING: audit.witness is off" in notes(values)


def test_without_the_dashboard_only_the_writers_are_granted_the_witness() -> None:
    documents = render("gk", {**POSTGRES, "dashboard": {"enabled": False}})
    assert sorted(witness_roles(documents)) == [
        "Role/gk-witness-writer",
        "RoleBinding/gk-witness-writer",
    ]


def test_a_folder_witness_is_a_volume_the_writers_mount_and_the_dashboard_reads(
    tmp_path: Path,
) -> None:
    documents = render("gk", FOLDER_WITNESS)
    witness = configuration(documents, tmp_path).audit.witness
    assert witness is not None and witness.config_map is None
    assert witness.folder == Path("/var/lib/gatekeeper-witness")
    assert not witness_roles(documents)
    volume = {"name": "witness", "persistentVolumeClaim": {"claimName": "audit-witness"}}
    mount = {"name": "witness", "mountPath": "/var/lib/gatekeeper-witness"}
    for name, expected in [
        ("gk-webhook", mount),
        ("gk-reconciler", mount),
        ("gk-dashboard", {**mount, "readOnly": True}),
    ]:
        spec = pod_spec(documents, name)
        assert volume in spec["volumes"], name
        assert expected in spec["containers"][0]["volumeMounts"], name
    assert "--witness /var/lib/gatekeeper-witness" in notes(FOLDER_WITNESS)


@pytest.mark.parametrize(
    ("values", "refusal"),
    [
        (
            {**POSTGRES, "audit": {"witness": {"folder": {"volume": {"emptyDir": {}}}}}},
            "configMap.enabled and folder.volume are both set",
        ),
        (
            {"audit": FOLDER_WITNESS["audit"]},
            "audit.witness.folder needs a shared database",
        ),
        (
            {**POSTGRES, "audit": {"witness": {"configMap": {"name": "Audit_Witness"}}}},
            'configMap.name "Audit_Witness" is not a lower-case DNS label',
        ),
        (
            {**POSTGRES, "audit": {"witness": {"configMap": {"namespace": "a.b"}}}},
            'configMap.namespace "a.b" is not a lower-case DNS label',
        ),
        (
            {
                **POSTGRES,
                "audit": {
                    "witness": {
                        "configMap": {"enabled": False},
                        "folder": {"volume": {"emptyDir": {}}, "mountPath": "witness"},
                    }
                },
            },
            'mountPath "witness" is not an absolute path',
        ),
    ],
    ids=["both", "folder-with-sqlite", "name", "namespace", "relative-folder"],
)
def test_a_witness_the_gatekeeper_could_not_use_is_refused(
    values: dict[str, Any], refusal: str
) -> None:
    with pytest.raises(helm_python.errors.HelmRenderError, match=refusal):
        render("gk", values)


@pytest.mark.parametrize(
    "values", [{}, EVERYTHING, FOLDER_WITNESS], ids=["defaults", "everything", "folder-witness"]
)
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


def _dry_run(admin_api: Any, documents: list[dict[str, Any]], namespace: str) -> None:
    from kubernetes import dynamic

    client = dynamic.DynamicClient(admin_api)
    for manifest in documents:
        resource = client.resources.get(api_version=manifest["apiVersion"], kind=manifest["kind"])
        where = manifest["metadata"].get("namespace", namespace)
        kwargs = {"namespace": where} if resource.namespaced else {}
        client.create(resource, body=manifest, dry_run="All", **kwargs)


@pytest.mark.cluster
@pytest.mark.parametrize(
    "values", [{}, EVERYTHING, FOLDER_WITNESS], ids=["defaults", "everything", "folder-witness"]
)
def test_a_real_api_server_accepts_every_object_in_a_dry_run(
    admin_api: Any, namespace: str, values: dict[str, Any]
) -> None:
    _dry_run(admin_api, render(namespace, values), namespace)


@pytest.fixture
def witness_namespace(admin_api: Any) -> Iterator[str]:
    """A second fresh namespace, to keep the witness apart from the release's."""
    from kubernetes import client

    name = f"t-witness-{secrets.token_hex(4)}"
    core = client.CoreV1Api(admin_api)
    core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    try:
        yield name
    finally:
        core.delete_namespace(name)


@pytest.mark.cluster
def test_a_real_api_server_accepts_a_witness_in_a_namespace_of_its_own(
    admin_api: Any, namespace: str, witness_namespace: str
) -> None:
    values = {**EVERYTHING, "audit": {"witness": {"configMap": {"namespace": witness_namespace}}}}
    documents = render(namespace, values)
    assert {r["metadata"]["namespace"] for r in witness_roles(documents).values()} == {
        witness_namespace
    }
    _dry_run(admin_api, documents, namespace)


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


KEY = Signer(Ed25519PrivateKey.generate())


def _signed(checkpoint_id: int, seq: int) -> Checkpoint:
    moment = datetime.now(UTC)
    head = f"{seq:064x}"
    message = checkpoint_message(
        seq=seq, head_hash=head, time=chain.format_time(moment), key=KEY.key_id
    )
    return Checkpoint(checkpoint_id, seq, head, moment, KEY.key_id, KEY.sign(message))


@pytest.mark.cluster
def test_the_witness_roles_let_the_writers_write_and_the_dashboard_only_read(
    cluster: Cluster, admin_api: Any, namespace: str, witness_namespace: str
) -> None:
    """The chart's witness roles created for real, without the reconciler's ClusterRole (which
    the writers' ServiceAccount also holds), and the witness's own code run as each account."""
    from kubernetes import client, config, dynamic

    from gatekeeper.audit.witness_configmap import ConfigMapWitness
    from gatekeeper.kube.client import KubeClient

    values = {**POSTGRES, "audit": {"witness": {"configMap": {"namespace": witness_namespace}}}}
    documents = render(namespace, values)
    accounts = [d for d in documents if d["kind"] == "ServiceAccount"]
    dynamic_client = dynamic.DynamicClient(admin_api)
    for manifest in accounts + list(witness_roles(documents).values()):
        resource = dynamic_client.resources.get(
            api_version=manifest["apiVersion"], kind=manifest["kind"]
        )
        dynamic_client.create(resource, body=manifest, namespace=manifest["metadata"]["namespace"])

    def acting_as(account: str) -> Any:
        api = config.new_client_from_config(config_file=str(cluster.admin_kubeconfig))
        api.set_default_header("Impersonate-User", f"system:serviceaccount:{namespace}:{account}")
        return api

    def may(api: Any, verb: str) -> bool:
        attributes = client.V1ResourceAttributes(
            namespace=witness_namespace, verb=verb, resource="configmaps"
        )
        review = client.V1SelfSubjectAccessReview(
            spec=client.V1SelfSubjectAccessReviewSpec(resource_attributes=attributes)
        )
        answer = client.AuthorizationV1Api(api).create_self_subject_access_review(review)
        return bool(answer.status.allowed)

    writer_api, reader_api = acting_as("gatekeeper"), acting_as("gatekeeper-dashboard")
    # Two checkpoints a ConfigMap: the writes create one, update it and create the next.
    writer = ConfigMapWitness(
        KubeClient(writer_api), namespace=witness_namespace, name=WITNESS_NAME, per_config_map=2
    )
    reader = ConfigMapWitness(
        KubeClient(reader_api), namespace=witness_namespace, name=WITNESS_NAME, per_config_map=2
    )
    try:
        # RBAC answers from its informers' cache: new roles take a moment to count.
        wait_for(lambda: may(writer_api, "create") and may(reader_api, "list"), what="roles")
        writes = {"get", "list", "create", "update"}
        for verb in ("get", "list", "create", "update", "patch", "delete", "deletecollection"):
            assert may(writer_api, verb) == (verb in writes), verb
            assert may(reader_api, verb) == (verb in {"get", "list"}), verb

        made = [_signed(1, 5), _signed(2, 9), _signed(3, 14)]
        for checkpoint in made:
            writer.write(checkpoint)
        assert writer.read().checkpoints == tuple(made)
        assert reader.read().checkpoints == tuple(made)
        for refused in (_signed(4, 20), _signed(5, 26)):  # an update, then a create
            with pytest.raises(WitnessError, match=r"(?i)forbidden") as caught:
                reader.write(refused)
            assert not isinstance(caught.value, WitnessUnavailable | WitnessConflict)
        assert reader.read().checkpoints == tuple(made)
    finally:
        writer.close()
        reader.close()
        writer_api.close()
        reader_api.close()


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


def test_every_gatekeeper_server_has_a_writable_tmp_on_its_read_only_root() -> None:
    """The root filesystem is read-only; the reconciler exports commits under the temporary
    folder, and Python finds none at all without one (it crash-looped on a real node)."""
    documents = render("gatekeeper-system", POSTGRES)
    deployments = [d for d in documents if d["kind"] == "Deployment"]
    assert len(deployments) == 3
    for deployment in deployments:
        spec = deployment["spec"]["template"]["spec"]
        volumes = {v["name"]: v for v in spec["volumes"]}
        server = spec["containers"][0]
        assert server["securityContext"]["readOnlyRootFilesystem"] is True
        mounts = {m["mountPath"]: m["name"] for m in server["volumeMounts"]}
        assert "emptyDir" in volumes[mounts["/tmp"]], deployment["metadata"]["name"]
