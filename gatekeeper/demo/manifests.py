"""What the demo writes: the application's manifests, the trust policy, the configuration file."""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from gatekeeper.demo.dashboard import TOKENS_FILE
from gatekeeper.demo.keys import DemoKeys

DEMO_LABEL = "gatekeeper.dev/demo"
APP = "web"
GOOD_IMAGE = "registry.example.com/web:1.4.2"
# Paths inside the repository; the source syncs `apps/`.
NAMESPACE_FILE = "apps/namespace.yaml"
DEPLOYMENT_FILE = "apps/web/deployment.yaml"
CONFIGMAP_FILE = "apps/web/configmap.yaml"


def _dump(document: dict[str, Any]) -> str:
    return yaml.safe_dump(document, sort_keys=False)


def namespace(name: str, *, team: str = "shop") -> str:
    """The Namespace; its demo label is what the webhook's namespaceSelector matches."""
    labels = {DEMO_LABEL: name, "team": team}
    return _dump(
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}}
    )


def deployment(ns: str, *, replicas: int = 2, image: str = GOOD_IMAGE) -> str:
    """A Deployment that every deny policy of the shipped library accepts."""
    labels = {"app.kubernetes.io/name": APP}
    container = {
        "name": APP,
        "image": image,
        "ports": [{"name": "http", "containerPort": 8080}],
        "resources": {
            "requests": {"cpu": "100m", "memory": "128Mi"},
            "limits": {"cpu": "500m", "memory": "256Mi"},
        },
        "securityContext": {
            "allowPrivilegeEscalation": False,
            "readOnlyRootFilesystem": True,
            "runAsNonRoot": True,
            "capabilities": {"drop": ["ALL"]},
        },
        "readinessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
        "livenessProbe": {"httpGet": {"path": "/healthz", "port": "http"}},
    }
    return _dump(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": APP, "namespace": ns, "labels": labels},
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {
                        "securityContext": {
                            "runAsNonRoot": True,
                            "seccompProfile": {"type": "RuntimeDefault"},
                        },
                        "containers": [container],
                    },
                },
            },
        }
    )


def config_map(ns: str, *, greeting: str = "hello") -> str:
    return _dump(
        {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {
                "name": f"{APP}-config",
                "namespace": ns,
                "labels": {"app.kubernetes.io/name": APP},
            },
            "data": {"GREETING": greeting, "LOG_LEVEL": "info"},
        }
    )


def initial_files(ns: str) -> dict[str, str]:
    return {
        NAMESPACE_FILE: namespace(ns),
        DEPLOYMENT_FILE: deployment(ns),
        CONFIGMAP_FILE: config_map(ns),
    }


def trust_policy(keys: DemoKeys) -> str:
    """alice (platform team) may change everything; bob (app team) only `apps/web/**`."""
    document = {
        "apiVersion": "gatekeeper.dev/v1alpha1",
        "kind": "TrustPolicy",
        "mode": "strict",
        "signers": [
            {"name": "alice", "emails": [keys.alice.email], "openpgp": keys.alice.public},
            {"name": "bob", "emails": [keys.bob.email], "ssh": [keys.bob.public]},
        ],
        "rules": [
            {"paths": ["apps/web/**"], "signers": ["alice", "bob"]},
            {"paths": ["**"], "signers": ["alice"]},
        ],
    }
    return _dump(document)


def shipped_policies() -> Path:
    """`policies/` of a source checkout, or the copy packed into the wheel."""
    packed = Path(str(resources.files("gatekeeper"))) / "_policies"
    if packed.is_dir():
        return packed
    checkout = Path(__file__).resolve().parents[2] / "policies"
    if checkout.is_dir():
        return checkout
    raise FileNotFoundError("the policy library is missing from this installation")


def config_file(
    *, directory: Path, source: str, namespace_name: str, reconciler_kubeconfig: Path
) -> str:
    """The gatekeeper configuration (DESIGN section 10), paths relative to `directory`."""
    document = {
        "database": {"url": f"sqlite:///{directory / 'gatekeeper.db'}"},
        "audit": {
            "signingKeyFile": "keys/audit/audit-ed25519.pem",
            "publicKeyFile": "keys/audit/audit-ed25519.pub",
        },
        "kubernetes": {"kubeconfig": str(reconciler_kubeconfig)},
        "policies": {"paths": [str(shipped_policies())], "engine": "regorus"},
        "sources": [
            {
                "name": source,
                "repo": "repo",
                "ref": "main",
                "path": "apps/",
                "trust": "trust.yaml",
                "render": "yaml",
                "prune": True,
                "drift": "correct",
                "namespace": namespace_name,
                # No kubelet runs Pods here, so workloads never report ready: the demo does not
                # wait for health, and never rolls back on its own.
                "healthTimeout": "3600s",
                "autoRollback": False,
            }
        ],
        "admission": {"reconcilerIdentity": "reconciler"},
        # Outside a cluster the dashboard signs people in from a tokens file, which its step
        # writes with a token made for the run (`gatekeeper demo` picks the port).
        "dashboard": {"host": "127.0.0.1", "auth": "tokens", "tokensFile": TOKENS_FILE},
    }
    return _dump(document)
