"""What the node's lifecycle asks kube-apiserver: is the node Ready, are the Pods gone."""

from __future__ import annotations

import time
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from gatekeeper.devcluster import hostchanges


def _api(kubeconfig: Path) -> client.ApiClient:
    api: client.ApiClient = config.new_client_from_config(config_file=str(kubeconfig))  # type: ignore[no-untyped-call]
    return api


def node_schedulable(kubeconfig: Path, name: str) -> bool:
    """The node reports Ready and carries no taint (the not-ready one is gone)."""
    with _api(kubeconfig) as api:
        try:
            node = client.CoreV1Api(api).read_node(name)
        except (ApiException, OSError):
            return False
    if node.status is None or node.spec is None:
        return False
    conditions = {c.type: c.status for c in (node.status.conditions or [])}
    ready = conditions.get("Ready") == "True"
    return ready and not node.spec.taints and not node.spec.unschedulable


def default_service_account(kubeconfig: Path, namespace: str) -> bool:
    """kube-controller-manager has made the namespace's `default` ServiceAccount."""
    with _api(kubeconfig) as api:
        try:
            client.CoreV1Api(api).read_namespaced_service_account("default", namespace)
        except (ApiException, OSError):
            return False
    return True


def delete_all_pods(kubeconfig: Path, *, seconds: float) -> bool:
    """Delete every admission webhook configuration, then every Pod, and wait until the
    kubelet has stopped them (their objects gone) and no container runs in the node's
    cgroups; True when all of that happened in time."""
    deadline = time.monotonic() + seconds
    with _api(kubeconfig) as api:
        # The cluster is going away: no admission webhook (whose own Pods go first) may
        # refuse or delay the deletions.
        admission = client.AdmissionregistrationV1Api(api)
        admission.delete_collection_validating_webhook_configuration()
        admission.delete_collection_mutating_webhook_configuration()
        core = client.CoreV1Api(api)
        for pod in core.list_pod_for_all_namespaces().items:
            if pod.metadata is None or not pod.metadata.name or not pod.metadata.namespace:
                continue
            try:
                core.delete_namespaced_pod(
                    pod.metadata.name, pod.metadata.namespace, grace_period_seconds=1
                )
            except ApiException as exc:
                if exc.status != 404:
                    raise
        while time.monotonic() < deadline:
            if not core.list_pod_for_all_namespaces().items and not hostchanges.cgroup_pids():
                return True
            time.sleep(0.3)
    return False
