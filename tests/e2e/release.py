"""The chart installed, upgraded and uninstalled the way Helm does it, with the project's Helm
library rendering it and server-side apply writing it (no `helm` binary exists here).

What Helm does and this does too: hooks of the phase run first, in weight order, each waited
for (a Job until it completed), `before-hook-creation` deletes the previous one first,
`hook-succeeded` deletes them once every hook of the phase succeeded; the release's other
objects are applied in Helm's kind order; an upgrade deletes the objects the new revision no
longer renders; an uninstall deletes the release's objects in the reverse order and leaves
hook objects alone (Helm does not track them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import helm_python
import yaml
from kubernetes import client

from gatekeeper.kube.client import KubeClient
from gatekeeper.kube.errors import KubeError
from tests.fixtures.cluster import wait_for

# Helm's install order (kinds not listed go last, in the order rendered).
INSTALL_ORDER = [
    "PriorityClass", "Namespace", "NetworkPolicy", "ResourceQuota", "LimitRange",
    "PodSecurityPolicy", "PodDisruptionBudget", "ServiceAccount", "Secret", "SecretList",
    "ConfigMap", "StorageClass", "PersistentVolume", "PersistentVolumeClaim",
    "CustomResourceDefinition", "ClusterRole", "ClusterRoleList", "ClusterRoleBinding",
    "ClusterRoleBindingList", "Role", "RoleList", "RoleBinding", "RoleBindingList", "Service",
    "DaemonSet", "Pod", "ReplicationController", "ReplicaSet", "Deployment",
    "HorizontalPodAutoscaler", "StatefulSet", "Job", "CronJob", "IngressClass", "Ingress",
    "APIService", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration",
]  # fmt: skip
HOOK = "helm.sh/hook"
MANAGER = "helm"

Key = tuple[str, str, str | None, str]  # apiVersion, kind, namespace, name


def _rank(document: dict[str, Any]) -> int:
    kind = document["kind"]
    return INSTALL_ORDER.index(kind) if kind in INSTALL_ORDER else len(INSTALL_ORDER)


def _annotations(document: dict[str, Any]) -> dict[str, str]:
    return dict(document["metadata"].get("annotations") or {})


@dataclass
class Release:
    kube: KubeClient
    chart: Path
    name: str
    namespace: str
    revision: int = 0
    applied: dict[Key, dict[str, Any]] = field(default_factory=dict)
    hooks_run: list[str] = field(default_factory=list)
    # The plane's log folder: what its kubelet and containerd said about a failed hook Job.
    logs: Path | None = None

    # -- rendering -----------------------------------------------------------------------------

    def render(self, values: dict[str, Any], *, upgrade: bool) -> list[dict[str, Any]]:
        with helm_python.Chart.load(self.chart) as chart:
            templates = chart.render(
                values,
                name=self.name,
                namespace=self.namespace,
                revision=self.revision + 1,
                is_install=not upgrade,
                is_upgrade=upgrade,
            )
        documents = []
        for name, text in sorted(templates.items()):
            if name.endswith(".yaml"):
                documents += [doc for doc in yaml.safe_load_all(text) if doc]
        for document in documents:
            resource = self.kube.resource_for(document["apiVersion"], document["kind"])
            if resource.namespaced:
                document["metadata"].setdefault("namespace", self.namespace)
        return documents

    def key(self, document: dict[str, Any]) -> Key:
        metadata = document["metadata"]
        return (
            document["apiVersion"],
            document["kind"],
            metadata.get("namespace"),
            metadata["name"],
        )

    # -- the three commands --------------------------------------------------------------------

    def install(self, values: dict[str, Any]) -> None:
        self._deploy(values, upgrade=False)

    def upgrade(self, values: dict[str, Any]) -> None:
        self._deploy(values, upgrade=True)

    def uninstall(self) -> list[Key]:
        """Delete the release's objects in reverse install order; the keys deleted."""
        order = sorted(self.applied.values(), key=_rank, reverse=True)
        for document in order:
            self._delete(document)
        deleted = [self.key(d) for d in order]
        self.applied.clear()
        return deleted

    # -- steps ---------------------------------------------------------------------------------

    def _deploy(self, values: dict[str, Any], *, upgrade: bool) -> None:
        documents = self.render(values, upgrade=upgrade)
        phase = "pre-upgrade" if upgrade else "pre-install"
        hooks = [d for d in documents if phase in _annotations(d).get(HOOK, "").split(",")]
        rest = [d for d in documents if HOOK not in _annotations(d)]
        self._run_hooks(hooks)
        current: dict[Key, dict[str, Any]] = {}
        for document in sorted(rest, key=_rank):
            self._apply(document)
            current[self.key(document)] = document
        for key, document in sorted(self.applied.items(), key=lambda kv: -_rank(kv[1])):
            if key not in current:
                self._delete(document)
        self.applied = current
        self.revision += 1

    def _run_hooks(self, hooks: list[dict[str, Any]]) -> None:
        def weight(document: dict[str, Any]) -> tuple[int, int, str]:
            raw = _annotations(document).get("helm.sh/hook-weight", "0")
            return int(raw), _rank(document), document["metadata"]["name"]

        ordered = sorted(hooks, key=weight)
        for document in ordered:
            policies = _annotations(document).get("helm.sh/hook-delete-policy", "")
            if "before-hook-creation" in policies.split(",") or not policies:
                self._delete(document, wait_gone=True)
            self._apply(document)
            if document["kind"] == "Job":
                self._wait_for_job(document)
            self.hooks_run.append(f"{document['kind']}/{document['metadata']['name']}")
        for document in ordered:
            policies = _annotations(document).get("helm.sh/hook-delete-policy", "")
            if "hook-succeeded" in policies.split(","):
                self._delete(document, wait_gone=True)

    def _wait_for_job(self, document: dict[str, Any]) -> None:
        resource = self.kube.resource_for("batch/v1", "Job")
        name, namespace = document["metadata"]["name"], document["metadata"]["namespace"]

        def finished() -> str:
            job = self.kube.get(resource, name, namespace) or {}
            for condition in (job.get("status") or {}).get("conditions") or []:
                if condition["type"] in ("Complete", "Failed") and condition["status"] == "True":
                    return str(condition["type"])
            return ""

        outcome = wait_for(finished, seconds=300, what=f"hook Job {name}", interval=0.5)
        assert outcome == "Complete", f"hook Job {name} failed:\n{self._job_logs(name, namespace)}"

    def _job_logs(self, name: str, namespace: str) -> str:
        """What each Pod of a Job wrote, for a failure's message."""
        core = client.CoreV1Api(self.kube.api_client)
        parts = []
        pods = self.kube.list(
            self.kube.resource_for("v1", "Pod"),
            label_selector=f"job-name={name}",
            namespace=namespace,
        )
        for pod in pods:
            pod_name = pod["metadata"]["name"]
            statuses = (pod.get("status") or {}).get("containerStatuses") or []
            parts.append(f"--- {pod_name} container statuses: {statuses}")
            for previous in (False, True):
                try:
                    log = core.read_namespaced_pod_log(
                        pod_name, namespace, previous=previous, tail_lines=30
                    )
                except Exception as exc:
                    log = f"(no log: {str(exc)[:200]})"
                parts.append(f"--- {pod_name}{' (previous)' if previous else ''}\n{log}")
        # A Job past its backoffLimit has its Pods deleted; the events about them remain.
        try:
            events = core.list_namespaced_event(namespace).items
        except Exception as exc:
            parts.append(f"--- no events: {str(exc)[:200]}")
            events = []
        for event in sorted(events, key=lambda e: str(e.last_timestamp or e.event_time or "")):
            involved = event.involved_object
            if involved is not None and str(involved.name or "").startswith(name):
                parts.append(
                    f"--- event {event.last_timestamp} {involved.kind}/{involved.name}"
                    f" {event.reason} (x{event.count}): {event.message}"
                )
        for component in ("kubelet", "containerd"):
            file = self.logs / f"{component}.log" if self.logs is not None else None
            if file is None or not file.exists():
                continue
            lines = file.read_text(errors="replace").splitlines()
            about = [line for line in lines if name in line][-25:]
            parts.append(f"--- {component}.log about {name}:\n" + "\n".join(about))
        return "\n".join(parts)

    def _apply(self, document: dict[str, Any]) -> None:
        resource = self.kube.resource_for(document["apiVersion"], document["kind"])
        try:
            self.kube.apply(document, resource)
        except KubeError as exc:
            what = f"{document['kind']}/{document['metadata']['name']}"
            raise AssertionError(f"{what}: {exc}") from exc

    def _delete(self, document: dict[str, Any], *, wait_gone: bool = False) -> None:
        resource = self.kube.resource_for(document["apiVersion"], document["kind"])
        name, namespace = document["metadata"]["name"], document["metadata"].get("namespace")
        self.kube.delete(resource, name, namespace)
        if wait_gone:
            wait_for(
                lambda: self.kube.get(resource, name, namespace) is None,
                seconds=60,
                what=f"{document['kind']}/{name} to be deleted",
                interval=0.5,
            )
