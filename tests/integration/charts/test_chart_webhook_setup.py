"""What the chart's webhook needs before and beside it, run as the chart renders it on a real
kube-apiserver 1.20: the hook Job that labels the namespaces the webhook leaves out (without
it, a webhook that is down blocks its own Pods), and the certificate keeper with nothing but
the rights the chart gives it. Each container's arguments and configuration are taken from
the rendered chart and run as a process, as its ServiceAccount."""

from __future__ import annotations

import base64
import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekeeper.admission.exclusion import NAME_LABEL, NAMESPACES
from gatekeeper.kube.client import KubeClient
from gatekeeper.kube.errors import KubeError
from tests.fixtures.cluster import NAMESPACE_LABEL, Cluster, wait_for
from tests.fixtures.webhook import WebhookServer
from tests.integration.charts.test_chart import by_name, helm_python, notes, pod_spec, render

ROOT = Path(__file__).resolve().parents[3]


def _container(spec: dict[str, Any], name: str) -> dict[str, Any]:
    containers = spec.get("initContainers", []) + spec["containers"]
    found: dict[str, Any] = next(c for c in containers if c["name"] == name)
    return found


def test_by_default_the_webhook_makes_its_own_certificate() -> None:
    documents = render("gk")
    spec = pod_spec(documents, "gk-webhook")
    init = _container(spec, "webhook-certs")
    keeper = _container(spec, "cert-keeper")
    assert init["args"] == ["webhook", "certs"]
    assert keeper["args"] == ["webhook", "certs", "--watch"]
    # The server reads the files the keeper writes; the key never reaches a disk.
    tls = {"name": "tls", "emptyDir": {"medium": "Memory"}}
    assert tls in spec["volumes"]
    for container in (init, keeper):
        assert {"name": "tls", "mountPath": "/etc/gatekeeper-tls"} in container["volumeMounts"]
    server = _container(spec, "webhook")
    assert {"name": "tls", "mountPath": "/etc/gatekeeper-tls", "readOnly": True} in server[
        "volumeMounts"
    ]
    configuration = by_name(documents, "ValidatingWebhookConfiguration", "gk")
    assert "caBundle" not in configuration["webhooks"][0]["clientConfig"]
    assert "made and renewed by the webhook itself" in notes({})
    assert "cert-manager.io/inject-ca-from" not in configuration["metadata"].get("annotations", {})


def test_the_keepers_configuration_names_the_secret_service_and_webhooks(tmp_path: Path) -> None:
    from tests.integration.charts.test_chart import configuration

    values = {"webhook": {"tls": {"generate": {"certValidity": "720h", "renewBefore": "240h"}}}}
    settings = configuration(render("gatekeeper-system", values), tmp_path)
    certs = settings.webhook_certs
    assert certs is not None
    assert (certs.namespace, certs.secret_name, certs.service, certs.webhook_configuration) == (
        "gatekeeper-system",
        "gatekeeper-webhook-tls",
        "gk-webhook",
        "gk",
    )
    assert (certs.cert_validity, certs.renew_before) == (720 * 3600, 240 * 3600)
    assert certs.ca_validity == 10 * 365 * 86400
    assert settings.server.tls_cert_file == Path("/etc/gatekeeper-tls/tls.crt")


@pytest.mark.parametrize(
    ("tls", "annotated", "ca_bundle"),
    [
        ({"certManager": {"enabled": True, "issuerRef": {"name": "ca"}}}, True, None),
        ({"caBundle": "Q0E="}, False, "Q0E="),
    ],
    ids=["cert-manager", "given-ca"],
)
def test_with_cert_manager_or_a_given_ca_the_secret_is_mounted_and_nothing_is_made(
    tls: dict[str, Any], annotated: bool, ca_bundle: str | None, tmp_path: Path
) -> None:
    from tests.integration.charts.test_chart import configuration

    documents = render("gk", {"webhook": {"tls": tls}})
    spec = pod_spec(documents, "gk-webhook")
    names = [c["name"] for c in spec.get("initContainers", []) + spec["containers"]]
    assert "webhook-certs" not in names and "cert-keeper" not in names
    assert {"name": "tls", "secret": {"secretName": "gatekeeper-webhook-tls"}} in spec["volumes"]
    assert not [d for d in documents if "webhook-certs" in d["metadata"]["name"]]
    assert configuration(documents, tmp_path).webhook_certs is None
    hook = by_name(documents, "ValidatingWebhookConfiguration", "gk")
    assert hook["webhooks"][0]["clientConfig"].get("caBundle") == ca_bundle
    annotations = hook["metadata"].get("annotations", {})
    assert ("cert-manager.io/inject-ca-from" in annotations) == annotated


@pytest.mark.parametrize(
    ("values", "refusal"),
    [
        (
            {"webhook": {"tls": {"caBundle": "Q0E=", "certManager": {"enabled": True}}}},
            "certManager.enabled and caBundle are both set",
        ),
        (
            {"database": {"url": "postgresql://a@b/c", "urlSecret": {"name": "db"}}},
            "url and urlSecret.name are both set",
        ),
        ({"database": {"url": "sqlite:///gatekeeper.db"}}, "database.url is not a PostgreSQL URL"),
    ],
    ids=["cert-manager-and-ca", "two-urls", "sqlite-url"],
)
def test_values_that_contradict_each_other_are_refused(
    values: dict[str, Any], refusal: str
) -> None:
    with pytest.raises(helm_python.errors.HelmRenderError, match=refusal):
        render("gk", values)


def test_a_database_url_becomes_a_secret_of_the_release_and_a_hook_copy_for_the_job(
    tmp_path: Path,
) -> None:
    url = "postgresql+psycopg://gatekeeper:s3cret@10.0.0.5:5432/gatekeeper"
    documents = render("gk", {"database": {"url": url}})
    # The Pods' copy is an ordinary object of the release: an uninstall removes it.
    secret = by_name(documents, "Secret", "gk-database")
    assert secret["stringData"] == {"url": url}
    assert "helm.sh/hook" not in secret["metadata"].get("annotations", {})
    # The migration Job's copy is a hook made before it and deleted once the hooks succeeded.
    hook = by_name(documents, "Secret", "gk-database-migrate")
    assert hook["stringData"] == {"url": url}
    annotations = hook["metadata"]["annotations"]
    assert annotations["helm.sh/hook"] == "pre-install,pre-upgrade"
    assert "hook-succeeded" in annotations["helm.sh/hook-delete-policy"].split(",")
    job = by_name(documents, "Job", "gk-db-upgrade")
    assert int(annotations["helm.sh/hook-weight"]) < int(
        job["metadata"]["annotations"].get("helm.sh/hook-weight", "0")
    )
    job_reference = {"secretKeyRef": {"name": "gk-database-migrate", "key": "url"}}
    assert job["spec"]["template"]["spec"]["containers"][0]["env"][0]["valueFrom"] == job_reference
    reference = {"secretKeyRef": {"name": "gk-database", "key": "url"}}
    for name in ("gk-webhook", "gk-reconciler", "gk-dashboard"):
        env = {e["name"]: e for e in _container(pod_spec(documents, name), name[3:])["env"]}
        assert env["GATEKEEPER_DATABASE__URL"]["valueFrom"] == reference, name


def test_the_excluded_namespaces_are_the_ones_the_hook_job_labels() -> None:
    values = {"database": {"urlSecret": {"name": "db"}}}
    values["audit"] = {"witness": {"configMap": {"namespace": "gk-audit"}}}
    documents = render("gatekeeper-system", values)
    selector = by_name(documents, "ValidatingWebhookConfiguration", "gk")["webhooks"][0][
        "namespaceSelector"
    ]
    excluded = [
        name
        for expression in selector["matchExpressions"]
        if expression["key"] == NAME_LABEL and expression["operator"] == "NotIn"
        for name in expression["values"]
    ]
    assert excluded == ["kube-system", "gatekeeper-system", "gk-audit", "kube-node-lease"]
    job = by_name(documents, "Job", "gk-namespace-labels")
    assert job["metadata"]["annotations"]["helm.sh/hook"] == "pre-install,pre-upgrade"
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"] == ["webhook", "exclude-namespaces", *excluded]
    role = by_name(documents, "ClusterRole", "gk-namespace-labels")
    assert role["rules"] == [
        {
            "apiGroups": [""],
            "resources": ["namespaces"],
            "resourceNames": excluded,
            "verbs": ["get", "patch"],
        }
    ]
    off = render("gatekeeper-system", {"webhook": {"labelExcludedNamespaces": False}})
    assert not [d for d in off if "namespace-labels" in d["metadata"]["name"]]


# -- on the API server ----------------------------------------------------------------------


def _create_all(kube: KubeClient, manifests: list[dict[str, Any]], namespace: str) -> list[Any]:
    """Create the manifests (in `namespace` when namespaced); the cluster-scoped ones."""
    cluster_wide = []
    for manifest in manifests:
        resource = kube.resource_for(manifest["apiVersion"], manifest["kind"])
        body = dict(manifest)
        if resource.namespaced:
            body["metadata"] = {**manifest["metadata"], "namespace": namespace}
        else:
            cluster_wide.append((resource, manifest["metadata"]["name"]))
        kube.create(resource, body)
    return cluster_wide


def _kubeconfig_for(
    cluster: Cluster, kube: KubeClient, namespace: str, account: str, folder: Path
) -> Path:
    """A kubeconfig with a token of ServiceAccount `account` (TokenRequest), as a Pod has."""
    answer = kube.request(
        "POST",
        f"/api/v1/namespaces/{namespace}/serviceaccounts/{account}/token",
        body={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": {}},
    )
    admin = yaml.safe_load(cluster.admin_kubeconfig.read_text())
    admin_cluster = admin["clusters"][0]["cluster"]
    ca = admin_cluster.get("certificate-authority")
    if ca is not None and not Path(ca).is_absolute():
        admin_cluster["certificate-authority"] = str(cluster.admin_kubeconfig.parent / ca)
    document = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "c", "cluster": admin_cluster}],
        "users": [{"name": account, "user": {"token": answer["status"]["token"]}}],
        "contexts": [{"name": "c", "context": {"cluster": "c", "user": account}}],
        "current-context": "c",
    }
    path = folder / f"{account}.kubeconfig"
    path.write_text(yaml.safe_dump(document))
    return path


def _run(container: dict[str, Any], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The container's arguments run by this checkout's gatekeeper, in `env`."""
    return subprocess.run(
        [sys.executable, "-m", "gatekeeper.cli", *container["args"]],
        capture_output=True,
        check=False,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT), **env},
        timeout=60,
    )


@pytest.fixture
def kube(admin_api: Any) -> KubeClient:
    return KubeClient(admin_api)


@pytest.fixture
def cleanup(kube: KubeClient) -> Iterator[list[Any]]:
    """Cluster-scoped objects a test made, deleted after it."""
    made: list[Any] = []
    yield made
    for resource, name in made:
        kube.delete(resource, name)


@pytest.mark.cluster
def test_the_keeper_makes_the_certificate_with_only_the_rights_the_chart_gives_it(
    cluster: Cluster, kube: KubeClient, namespace: str, cleanup: list[Any], tmp_path: Path
) -> None:
    suffix = secrets.token_hex(4)
    release = f"certs-{suffix}"
    values = {
        "webhook": {
            "failurePolicy": "Ignore",
            "namespaceSelector": {"matchLabels": {f"never-{suffix}": "x"}},
        }
    }
    documents = render(namespace, values, release=release)
    wanted = {
        ("ServiceAccount", "gatekeeper"),
        ("Role", f"{release}-webhook-certs"),
        ("RoleBinding", f"{release}-webhook-certs"),
        ("ClusterRole", f"{release}-webhook-certs"),
        ("ClusterRoleBinding", f"{release}-webhook-certs"),
        ("ValidatingWebhookConfiguration", release),
    }
    # Not the reconciler's ClusterRole, which the same ServiceAccount holds and which allows
    # everything: the keeper must work without it.
    manifests = [d for d in documents if (d["kind"], d["metadata"]["name"]) in wanted]
    assert len(manifests) == len(wanted)
    cleanup += _create_all(kube, manifests, namespace)
    kubeconfig = _kubeconfig_for(cluster, kube, namespace, "gatekeeper", tmp_path)
    config = by_name(documents, "ConfigMap", f"{release}-config")["data"]["gatekeeper.yaml"]
    (tmp_path / "gatekeeper.yaml").write_text(config)
    env = {
        "GATEKEEPER_CONFIG": str(tmp_path / "gatekeeper.yaml"),
        # In the Pod: the in-cluster configuration and the emptyDir at /etc/gatekeeper-tls.
        "GATEKEEPER_KUBERNETES__KUBECONFIG": str(kubeconfig),
        "GATEKEEPER_SERVER__TLS_CERT_FILE": str(tmp_path / "tls" / "tls.crt"),
        "GATEKEEPER_SERVER__TLS_KEY_FILE": str(tmp_path / "tls" / "tls.key"),
    }
    init = _container(pod_spec(documents, f"{release}-webhook"), "webhook-certs")

    # RBAC answers from its informers' cache: new bindings take a moment to count.
    done: list[subprocess.CompletedProcess[str]] = []
    wait_for(lambda: done.append(_run(init, env)) or done[-1].returncode == 0, what="keeper")

    secret = kube.get(kube.resource_for("v1", "Secret"), "gatekeeper-webhook-tls", namespace)
    assert (
        base64.b64decode(secret["data"]["tls.crt"]) == (tmp_path / "tls" / "tls.crt").read_bytes()
    )
    live = kube.get(
        kube.resource_for("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
        release,
    )
    assert live["webhooks"][0]["clientConfig"]["caBundle"] == secret["data"]["ca.crt"]


def _config_map(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": f"probe-{secrets.token_hex(4)}", "namespace": namespace},
    }


@pytest.mark.cluster
def test_on_1_20_the_hook_job_keeps_a_webhook_that_is_down_from_blocking_its_namespace(
    cluster: Cluster,
    kube: KubeClient,
    namespace: str,
    cleanup: list[Any],
    webhook_server: WebhookServer,
    tmp_path: Path,
) -> None:
    """The install of the issue: the webhook's configuration exists, its Pods do not answer,
    and with failurePolicy Fail nothing can be created in its own namespace, its Pods
    included. After the chart's hook Job ran, the namespace is left out."""
    suffix = secrets.token_hex(4)
    release = f"labels-{suffix}"
    # Only this test's namespace could be guarded at all: other tests share the API server.
    values = {"webhook": {"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: namespace}}}}
    documents = render(namespace, values, release=release)
    rendered = by_name(documents, "ValidatingWebhookConfiguration", release)["webhooks"][0]
    configurations = kube.resource_for(
        "admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"
    )
    # The chart's selector and policy, called at the test's server instead of the Service.
    hook = {
        **rendered,
        "clientConfig": {"url": webhook_server.url(), "caBundle": webhook_server.tls.ca_bundle},
        "rules": [
            {
                "apiGroups": [""],
                "apiVersions": ["v1"],
                "operations": ["CREATE"],
                "resources": ["configmaps"],
            }
        ],
    }
    configuration = {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingWebhookConfiguration",
        "metadata": {"name": release},
        "webhooks": [hook],
    }
    kube.create(configurations, configuration)
    cleanup.append((configurations, release))
    config_maps = kube.resource_for("v1", "ConfigMap")
    namespaces = kube.resource_for("v1", "Namespace")
    assert NAME_LABEL not in kube.get(namespaces, namespace)["metadata"]["labels"]

    def reached() -> bool:
        before = len(webhook_server.reviews)
        kube.request(
            "POST",
            config_maps.collection_path(namespace),
            query={"dryRun": "All"},
            body=_config_map(namespace),
        )
        return len(webhook_server.reviews) > before

    # Kubernetes 1.20 sets no kubernetes.io/metadata.name: the webhook guards its own namespace.
    wait_for(reached, seconds=20, what="the webhook configuration")
    webhook_server.stop()
    with pytest.raises(KubeError, match="failed calling webhook"):
        kube.create(config_maps, _config_map(namespace))

    job = by_name(documents, "Job", f"{release}-namespace-labels")
    account = f"{release}-namespace-labels"
    rbac = [d for d in documents if d["metadata"]["name"] == account and d["kind"] != "Job"]
    cleanup += _create_all(kube, rbac, namespace)
    kubeconfig = _kubeconfig_for(cluster, kube, namespace, account, tmp_path)
    (container,) = job["spec"]["template"]["spec"]["containers"]
    assert container["args"][2:] == ["kube-system", namespace, "kube-node-lease"]
    env = {"GATEKEEPER_KUBERNETES__KUBECONFIG": str(kubeconfig)}
    done: list[subprocess.CompletedProcess[str]] = []
    wait_for(lambda: done.append(_run(container, env)) or done[-1].returncode == 0, what="labels")
    assert f"namespace {namespace}: labelled" in done[-1].stdout

    for name in container["args"][2:]:
        assert kube.get(NAMESPACES, name)["metadata"]["labels"][NAME_LABEL] == name

    def created() -> bool:
        try:
            kube.create(config_maps, _config_map(namespace))
        except KubeError:
            return False
        return True

    # The API server's namespace cache takes a moment to see the label.
    wait_for(created, seconds=20, what="the namespace left out")
    # Running it again changes nothing; a namespace that does not exist is a clear error.
    again = _run(container, env)
    assert again.returncode == 0 and f"namespace {namespace}: already labelled" in again.stdout
    admin = {"GATEKEEPER_KUBERNETES__KUBECONFIG": str(cluster.admin_kubeconfig)}
    missing = _run({"args": ["webhook", "exclude-namespaces", f"gone-{suffix}"]}, admin)
    assert missing.returncode != 0
    assert f"namespace gone-{suffix} does not exist" in missing.stderr
