"""The chart installed for real, on a plane with a node, from the project's own image: real
Pods, real kubelet probes, real ReplicaSets, a real Git server and a real PostgreSQL.

The steps run in order on one installation (each test is one step and names what it relies
on): install; the reconciler Pods sync a signed commit from a Git server they reach over the
node's network; a human's `kubectl edit` of what they synced is refused by the webhook Pods; a
commit whose Pods never pass their readiness probe is rolled back automatically; deleting every
webhook Pod under `failurePolicy: Fail` deadlocks nothing; an upgrade to new values rolls out;
the audit log written by all those Pods verifies; uninstall leaves nothing of the release.

Root only, like every node test; under CI=true the node binaries and the image are built
when missing (`make e2e` runs only this module; `make test` runs it with everything else).
"""

from __future__ import annotations

import base64
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from gatekeeper import __version__
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.events import Record
from gatekeeper.audit.store import AuditStore
from gatekeeper.devcluster import nodeimages, plane
from gatekeeper.devcluster.identities import ADMIN
from gatekeeper.devcluster.nodeconfig import NODE_NAME, POD_GATEWAY
from gatekeeper.kube import contract
from gatekeeper.kube.client import KubeClient
from tests.e2e.release import Release
from tests.fixtures.cluster import node_plane, skip_unless_nodes_possible, wait_for
from tests.fixtures.databases import POSTGRES_URL
from tests.fixtures.forward import Forwarder
from tests.fixtures.gitrepo import SignedRepo, SshKeyPair, SshSigner, trust_policy_yaml
from tests.fixtures.gitservers import HTTP_BACKEND, GitHttpServer, bare_copy, push

helm_python = pytest.importorskip("helm_python", reason="the helm extra is not installed")

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.e2e,
    # One node per machine: every node test runs in the same xdist worker.
    pytest.mark.xdist_group("nodes"),
]

ROOT = Path(__file__).resolve().parents[2]
CHART = ROOT / "charts" / "gitops-gatekeeper"
IMAGE_REPOSITORY = "localhost/gitops-gatekeeper"
IMAGE = f"{IMAGE_REPOSITORY}:{__version__}"
NAMESPACE = "gatekeeper-system"
RELEASE = "gk"
APP_NAMESPACE = "shop"
SOURCE = "apps"
INSTANCE = f"app.kubernetes.io/instance={RELEASE}"


# --- what the Git repository holds ----------------------------------------------------------


def _app(*, ready_command: str, version: str) -> str:
    """A Deployment that passes the shipped policy library; its readiness probe runs
    `ready_command` in the container (the project's own image, which has Python)."""
    manifest = {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {
            "name": "web",
            "namespace": APP_NAMESPACE,
            "labels": {"app.kubernetes.io/name": "web"},
        },
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": "web"}},
            "template": {
                "metadata": {"labels": {"app": "web", "app.kubernetes.io/name": "web"}},
                "spec": {
                    "automountServiceAccountToken": False,
                    "terminationGracePeriodSeconds": 1,
                    "securityContext": {
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    },
                    "containers": [
                        {
                            "name": "web",
                            "image": IMAGE,
                            "imagePullPolicy": "Never",
                            "command": ["python3", "-c", "import time\nwhile 1: time.sleep(60)"],
                            "env": [{"name": "APP_VERSION", "value": version}],
                            "resources": {
                                "requests": {"cpu": "10m", "memory": "32Mi"},
                                "limits": {"cpu": "200m", "memory": "128Mi"},
                            },
                            "securityContext": {
                                "allowPrivilegeEscalation": False,
                                "readOnlyRootFilesystem": True,
                                "capabilities": {"drop": ["ALL"]},
                            },
                            "readinessProbe": {
                                "exec": {"command": ["python3", "-c", ready_command]},
                                "periodSeconds": 2,
                                "timeoutSeconds": 5,
                            },
                            "livenessProbe": {
                                "exec": {"command": ["python3", "-c", "pass"]},
                                "periodSeconds": 20,
                                "timeoutSeconds": 5,
                            },
                        }
                    ],
                },
            },
        },
    }
    return yaml.safe_dump(manifest, sort_keys=False)


NAMESPACE_MANIFEST = f"apiVersion: v1\nkind: Namespace\nmetadata:\n  name: {APP_NAMESPACE}\n"
HEALTHY = "pass"
NEVER_READY = "raise SystemExit(1)"


# --- the installation -----------------------------------------------------------------------


@dataclass
class Installed:
    started: plane.ControlPlane
    kube: KubeClient
    release: Release
    values: dict[str, Any]
    repo: SignedRepo
    signer: SshSigner
    served: Path
    store: AuditStore
    keys: Path
    database_url: str
    commits: dict[str, str] = field(default_factory=dict)

    def kubectl(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        kubeconfig = self.started.kubeconfig(ADMIN.name)
        command = [str(Path(sys.executable).parent / "kubectl"), "--kubeconfig", str(kubeconfig)]
        return subprocess.run(
            [*command, *args],
            capture_output=True,
            text=True,
            check=False,
            env={**os.environ, **(env or {})},
            timeout=120,
        )

    def commit(self, name: str, files: dict[str, str | None]) -> str:
        sha = self.repo.commit(files, signer=self.signer, message=name)
        push(self.repo.path, self.served)
        self.commits[name] = sha
        return sha

    def records(self, kind: str, **filters: Any) -> list[Record]:
        return self.store.query(kinds=[kind], limit=1000, **filters).records

    def resource(self, api_version: str, kind: str) -> Any:
        return self.kube.resource_for(api_version, kind)

    def deployment(self, name: str, namespace: str) -> dict[str, Any]:
        found: dict[str, Any] = self.kube.get(
            self.resource("apps/v1", "Deployment"), name, namespace
        )
        return found

    def rolled_out(self, name: str, namespace: str) -> bool:
        """The Deployment's latest generation is observed, updated, available, and alone."""
        live = self.deployment(name, namespace)
        if not live:
            return False
        wanted = live["spec"].get("replicas", 1)
        status = live.get("status") or {}
        return (
            status.get("observedGeneration", 0) >= live["metadata"]["generation"]
            and status.get("updatedReplicas", 0) == wanted
            and status.get("availableReplicas", 0) == wanted
            and status.get("replicas", 0) == wanted
        )

    def pods(self, namespace: str, selector: str) -> list[dict[str, Any]]:
        return self.kube.list(
            self.resource("v1", "Pod"), label_selector=selector, namespace=namespace
        )

    def wait(self, condition: Any, seconds: float, what: str) -> Any:
        """`wait_for`, every half second, with the logs of the release's Pods in the failure's
        message."""
        try:
            return wait_for(condition, seconds=seconds, what=what, interval=0.5)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\n{self.diagnostics()}") from None

    def diagnostics(self) -> str:
        """The last lines each container of the release's Pods wrote (and, for a container
        that restarted, what its previous run wrote)."""
        core = client.CoreV1Api(self.kube.api_client)
        parts = []
        for pod in self.pods(NAMESPACE, INSTANCE):
            name = pod["metadata"]["name"]
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            for status in statuses:
                for previous in (False, True) if status.get("restartCount") else (False,):
                    try:
                        log = core.read_namespaced_pod_log(
                            name,
                            NAMESPACE,
                            container=status["name"],
                            previous=previous,
                            tail_lines=40,
                        )
                    except Exception as exc:
                        log = f"(no log: {exc})"
                    label = f"{name}/{status['name']}{' (previous)' if previous else ''}"
                    parts.append(f"--- {label}, restarts {status.get('restartCount')}\n{log}")
        return "\n".join(parts)

    def node_ready(self) -> bool:
        node = self.kube.get(self.resource("v1", "Node"), NODE_NAME)
        conditions = {c["type"]: c["status"] for c in node["status"]["conditions"]}
        return conditions.get("Ready") == "True"


def _database() -> Iterator[tuple[str, str]]:
    """A fresh PostgreSQL database: its URL from here and its name."""
    name = f"gk_e2e_{uuid.uuid4().hex[:10]}"
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL must be reachable under CI=true: {exc}")
        pytest.skip(f"PostgreSQL is not reachable: {exc}")
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False), name
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _secret(name: str, data: dict[str, bytes]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "data": {key: base64.b64encode(value).decode() for key, value in data.items()},
    }


@pytest.fixture(scope="module")
def installed(
    tmp_path_factory: pytest.TempPathFactory, node_image_archive: Path
) -> Iterator[Installed]:
    skip_unless_nodes_possible()
    if not HTTP_BACKEND.exists():
        pytest.skip("git-http-backend is not installed")
    folder = tmp_path_factory.mktemp("e2e")
    archive = node_image_archive
    databases = _database()
    local_url, database = next(databases)
    try:
        with node_plane() as started:
            assert started.node is not None
            nodeimages.import_archive(Path(started.node["containerd_socket"]), archive)
            yield from _install(started, folder, local_url, database)
    finally:
        databases.close()


def _install(
    started: plane.ControlPlane, folder: Path, local_url: str, database: str
) -> Iterator[Installed]:
    # PostgreSQL listens on loopback: the Pods reach it on the bridge's address, through a
    # forwarder this test owns (the server's configuration is not touched).
    forwarder = Forwarder(
        host=POD_GATEWAY, target=("127.0.0.1", make_url(POSTGRES_URL).port or 5432)
    )
    forwarder.start()
    pod_url = make_url(local_url).set(host=POD_GATEWAY, port=forwarder.port)
    # A private Git server on the bridge's address; the reconciler authenticates with a password.
    git_root = folder / "git"
    git_root.mkdir()
    server = GitHttpServer(
        root=git_root, username="deploy", password=uuid.uuid4().hex, host=POD_GATEWAY
    )
    server.start()
    store = AuditStore(create_database_engine(local_url))
    kube = KubeClient.from_kubeconfig(started.kubeconfig(ADMIN.name))
    try:
        key = SshKeyPair.create(folder, "dev", "dev@example.com")
        signer = SshSigner(key)
        repo = SignedRepo.init(folder / "work")
        first = repo.commit(
            {
                "apps/namespace.yaml": NAMESPACE_MANIFEST,
                "apps/web.yaml": _app(ready_command=HEALTHY, version="1"),
            },
            signer=signer,
            message="healthy",
        )
        served = bare_copy(repo.path, git_root / "gitops.git")

        kube.create(kube.resource_for("v1", "Namespace"), {"metadata": {"name": NAMESPACE}})
        keys = folder / "keys"
        subprocess.run(
            [
                str(Path(sys.executable).parent / "gatekeeper"),
                "audit",
                "keygen",
                "--out",
                str(keys),
            ],
            check=True,
            capture_output=True,
        )
        secrets = kube.resource_for("v1", "Secret")
        key_files = {p.name: p.read_bytes() for p in keys.iterdir() if p.is_file()}
        kube.create(secrets, _secret("gatekeeper-audit-key", key_files))
        kube.create(secrets, _secret("gk-git", {"password": server.password.encode()}))

        trust = trust_policy_yaml(
            signers={"dev": {"emails": ["dev@example.com"], "ssh": [key.public]}},
            rules=[{"paths": ["**"], "signers": ["dev"]}],
        )
        values: dict[str, Any] = {
            "image": {"repository": IMAGE_REPOSITORY, "tag": __version__, "pullPolicy": "Never"},
            "database": {"url": pod_url.render_as_string(hide_password=False)},
            "reconciler": {"secretName": "gk-git"},
            "trustPolicies": {"trust.yaml": trust},
            "config": {
                "sources": [
                    {
                        "name": SOURCE,
                        "repo": server.url("gitops"),
                        "ref": "main",
                        "path": "apps/",
                        "interval": "3s",
                        "trust": "/etc/gatekeeper/trust.yaml",
                        "healthTimeout": "45s",
                        "autoRollback": True,
                        "credentials": {
                            "https": {
                                "username": "deploy",
                                "passwordFile": "/etc/gatekeeper-secrets/password",
                            }
                        },
                    }
                ],
            },
        }
        release = Release(kube, CHART, RELEASE, NAMESPACE, logs=started.layout.logs)
        release.install(values)
        yield Installed(
            started=started,
            kube=kube,
            release=release,
            values=values,
            repo=repo,
            signer=signer,
            served=served,
            store=store,
            keys=keys,
            database_url=local_url,
            commits={"healthy": first},
        )
    finally:
        store.close()
        kube.close()
        server.stop()
        forwarder.stop()


# --- the steps, in order --------------------------------------------------------------------


def test_1_install_brings_every_pod_of_the_release_up(installed: Installed) -> None:
    for component in ("webhook", "reconciler", "dashboard"):
        installed.wait(
            lambda name=f"{RELEASE}-{component}": installed.rolled_out(name, NAMESPACE),
            240,
            f"the {component} Deployment to roll out",
        )
    webhook = installed.deployment(f"{RELEASE}-webhook", NAMESPACE)
    assert webhook["status"]["readyReplicas"] == 2
    # Up and staying up: no container of the release restarted.
    restarted = [
        f"{pod['metadata']['name']}/{status['name']}"
        for pod in installed.pods(NAMESPACE, INSTANCE)
        for status in (pod.get("status") or {}).get("containerStatuses") or []
        if status.get("restartCount")
    ]
    assert not restarted, f"restarted: {restarted}\n{installed.diagnostics()}"
    # The hooks ran in Helm's order and cleaned up after themselves.
    assert installed.release.hooks_run.index(f"Job/{RELEASE}-namespace-labels") < (
        installed.release.hooks_run.index(f"Job/{RELEASE}-db-upgrade")
    )
    jobs = installed.kube.list(installed.resource("batch/v1", "Job"), namespace=NAMESPACE)
    assert jobs == []
    # The webhook made its own certificate and put its CA into the configuration.
    configuration = installed.kube.get(
        installed.resource("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
        RELEASE,
    )
    assert configuration["webhooks"][0]["clientConfig"].get("caBundle")


def test_2_the_reconciler_pods_sync_a_signed_commit_from_a_git_server(
    installed: Installed,
) -> None:
    healthy = installed.commits["healthy"]

    def synced() -> list[Record]:
        return installed.records("sync.healthy", source=SOURCE, commit=healthy)

    installed.wait(synced, 180, "the signed commit to be synced and healthy")
    applied = installed.records("sync.applied", source=SOURCE, commit=healthy)
    assert applied and applied[0].payload["signer"] == "dev"
    assert applied[0].payload["rollback"] is False
    live = installed.deployment("web", APP_NAMESPACE)
    assert live["metadata"]["annotations"][contract.COMMIT_ANNOTATION] == healthy
    assert installed.rolled_out("web", APP_NAMESPACE)


def test_3_a_humans_kubectl_edit_of_a_synced_object_is_refused(
    installed: Installed, tmp_path: Path
) -> None:
    editor = tmp_path / "editor.py"
    editor.write_text(
        textwrap.dedent(
            """
            import sys
            path = sys.argv[1]
            text = open(path).read()
            open(path, "w").write(text.replace("replicas: 1", "replicas: 3", 1))
            """
        )
    )
    before = installed.deployment("web", APP_NAMESPACE)
    result = installed.kubectl(
        "edit",
        "deployment/web",
        "-n",
        APP_NAMESPACE,
        env={"KUBE_EDITOR": f"{sys.executable} {editor}"},
    )
    assert result.returncode != 0, result.stdout
    assert "denied the request" in result.stderr, result.stderr
    after = installed.deployment("web", APP_NAMESPACE)
    assert after["spec"]["replicas"] == 1
    assert after["metadata"]["resourceVersion"] == before["metadata"]["resourceVersion"]
    denials = [
        r
        for r in installed.records("admission.denied")
        if r.payload.get("name") == "web" or "web" in r.subject
    ]
    assert denials, "the refusal was not recorded"


def test_4_a_commit_whose_pods_never_become_ready_is_rolled_back(installed: Installed) -> None:
    healthy = installed.commits["healthy"]
    broken = installed.commit(
        "never ready", {"apps/web.yaml": _app(ready_command=NEVER_READY, version="2")}
    )

    def rolled_back() -> list[Record]:
        return installed.records("rollback", source=SOURCE)

    rollbacks = installed.wait(rolled_back, 240, "the automatic rollback")
    assert rollbacks[0].payload["to"] == healthy
    assert rollbacks[0].payload["from"] == broken
    assert rollbacks[0].payload["automatic"] is True
    # The real ReplicaSets: the healthy template is back and alone, its Pod ready.
    installed.wait(lambda: installed.rolled_out("web", APP_NAMESPACE), 120, "the healthy Pods")
    live = installed.deployment("web", APP_NAMESPACE)
    container = live["spec"]["template"]["spec"]["containers"][0]
    assert container["readinessProbe"]["exec"]["command"][-1] == HEALTHY
    assert live["metadata"]["annotations"][contract.COMMIT_ANNOTATION] == healthy
    assert {"name": "APP_VERSION", "value": "1"} in container["env"]
    replica_sets = installed.kube.list(
        installed.resource("apps/v1", "ReplicaSet"), namespace=APP_NAMESPACE
    )
    running = [rs for rs in replica_sets if (rs["spec"].get("replicas") or 0) > 0]
    assert len(running) == 1


def test_5_deleting_every_webhook_pod_deadlocks_nothing(installed: Installed) -> None:
    selector = "app.kubernetes.io/component=webhook"
    old = {p["metadata"]["name"] for p in installed.pods(NAMESPACE, selector)}
    assert len(old) == 2
    pods = installed.resource("v1", "Pod")
    for name in old:
        installed.kube.delete(pods, name, NAMESPACE)

    def replaced() -> bool:
        current = installed.pods(NAMESPACE, selector)
        fresh = [p for p in current if p["metadata"]["name"] not in old]
        ready = [
            p
            for p in fresh
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (p.get("status") or {}).get("conditions") or []
            )
        ]
        return len(ready) == 2

    # Its own namespace is never guarded, so its ReplicaSet makes new Pods while no webhook
    # answers; node heartbeats go on meanwhile.
    installed.wait(replaced, 180, "new webhook Pods")
    assert installed.node_ready()
    # And it guards again: the human edit is still refused.
    result = installed.kubectl(
        "annotate", "deployment/web", "-n", APP_NAMESPACE, "example.com/touched=yes"
    )
    assert result.returncode != 0
    assert "denied the request" in result.stderr, result.stderr


def test_6_an_upgrade_to_new_values_rolls_out(installed: Installed) -> None:
    before = installed.deployment(f"{RELEASE}-webhook", NAMESPACE)
    old_checksum = before["spec"]["template"]["metadata"]["annotations"]["checksum/config"]
    values = {**installed.values, "webhook": {"requestTimeout": "7s", "replicas": 1}}
    installed.release.upgrade(values)
    installed.wait(
        lambda: installed.rolled_out(f"{RELEASE}-webhook", NAMESPACE),
        240,
        "the upgraded webhook",
    )
    after = installed.deployment(f"{RELEASE}-webhook", NAMESPACE)
    assert after["spec"]["replicas"] == 1
    assert after["spec"]["template"]["metadata"]["annotations"]["checksum/config"] != old_checksum
    config_map = installed.kube.get(
        installed.resource("v1", "ConfigMap"), f"{RELEASE}-config", NAMESPACE
    )
    assert yaml.safe_load(config_map["data"]["gatekeeper.yaml"])["server"]["requestTimeout"] == "7s"
    # The upgrade's hooks ran again and left nothing.
    assert installed.release.hooks_run.count(f"Job/{RELEASE}-db-upgrade") == 2
    assert installed.kube.list(installed.resource("batch/v1", "Job"), namespace=NAMESPACE) == []


def test_7_the_log_all_those_pods_wrote_verifies(installed: Installed, tmp_path: Path) -> None:
    config = tmp_path / "gatekeeper.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "database": {"url": installed.database_url},
                "audit": {
                    "publicKeyFile": str(installed.keys / "audit-ed25519.pub"),
                    "checkpointMaxAge": "1h",
                },
            }
        )
    )
    gatekeeper = str(Path(sys.executable).parent / "gatekeeper")
    result = subprocess.run(
        [gatekeeper, "--config", str(config), "audit", "verify"],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    # The human's edits were refused; nothing the reconciler Pods applied ever was.
    actors = {r.actor for r in installed.records("admission.denied")}
    assert ADMIN.name in actors
    assert not [a for a in actors if a.startswith("system:serviceaccount:")], actors


def test_8_uninstall_leaves_nothing_of_the_release(installed: Installed) -> None:
    installed.release.uninstall()

    def labelled_leftovers() -> list[str]:
        found = []
        for api_version, kind in _listable_kinds(installed.kube):
            resource = installed.kube.resource_for(api_version, kind)
            for item in installed.kube.list(resource, label_selector=INSTANCE):
                metadata = item["metadata"]
                found.append(f"{kind} {metadata.get('namespace', '')}/{metadata['name']}")
        return found

    # Pods and ReplicaSets go by garbage collection, a moment after their Deployments.
    installed.wait(lambda: not labelled_leftovers(), 180, "the release's objects to be gone")
    # Nothing of the chart's is cluster-wide any more, labelled or not.
    for api_version, kind in (
        ("admissionregistration.k8s.io/v1", "ValidatingWebhookConfiguration"),
        ("rbac.authorization.k8s.io/v1", "ClusterRole"),
        ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"),
    ):
        names = [
            i["metadata"]["name"]
            for i in installed.kube.list(installed.resource(api_version, kind))
        ]
        assert not [n for n in names if n == RELEASE or n.startswith(f"{RELEASE}-")], kind

    # What the webhook made for itself (its certificate and CA key) belonged to the webhook
    # configuration and went with it; the database URL's hook copy went after the hooks.
    def secrets_left() -> list[str]:
        secrets = installed.kube.list(installed.resource("v1", "Secret"), namespace=NAMESPACE)
        return sorted(
            s["metadata"]["name"]
            for s in secrets
            if s["type"] != "kubernetes.io/service-account-token"
        )

    installed.wait(
        lambda: secrets_left() == ["gatekeeper-audit-key", "gk-git"],
        120,
        f"only the Secrets made before the install to be left (now {secrets_left()})",
    )
    # Kept on purpose: the checkpoint witness, which is evidence, and the reconcilers' Lease.
    config_maps = installed.kube.list(installed.resource("v1", "ConfigMap"), namespace=NAMESPACE)
    kept = {c["metadata"]["name"] for c in config_maps} - {"kube-root-ca.crt"}
    assert kept and all(name.startswith("gatekeeper-audit-witness") for name in kept), kept
    leases = installed.kube.list(
        installed.resource("coordination.k8s.io/v1", "Lease"), namespace=NAMESPACE
    )
    assert len(leases) <= 1
    # The namespace then goes as any other: no finalizer of ours holds it.
    namespaces = installed.resource("v1", "Namespace")
    installed.kube.delete(namespaces, NAMESPACE)
    installed.wait(
        lambda: installed.kube.get(namespaces, NAMESPACE) is None, 120, "the namespace to go"
    )
    # Uninstalling the gatekeeper deletes no workload it synced, and the node is fine.
    assert installed.deployment("web", APP_NAMESPACE)
    assert installed.node_ready()


def _listable_kinds(kube: KubeClient) -> list[tuple[str, str]]:
    """Every kind the API server serves that can be listed."""
    groups = kube.request("GET", "/apis")["groups"]
    versions = ["v1"] + [g["preferredVersion"]["groupVersion"] for g in groups]
    found = []
    for group_version in versions:
        path = "/api/v1" if group_version == "v1" else f"/apis/{group_version}"
        for resource in kube.request("GET", path)["resources"]:
            if "/" in resource["name"] or "list" not in resource.get("verbs", []):
                continue
            found.append((group_version, resource["kind"]))
    return sorted(set(found))
