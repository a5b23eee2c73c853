"""RBAC objects that give the static-token users their rights, as plain manifests."""

from __future__ import annotations

from typing import Any

from gatekeeper.devcluster.identities import BREAK_GLASS_GROUP, DEVELOPERS_GROUP, RECONCILER

Manifest = dict[str, Any]

RBAC_API = "rbac.authorization.k8s.io/v1"
RECONCILER_ROLE = "gatekeeper-dev:reconciler"
DEVELOPER_ROLE = "gatekeeper-dev:developer"
DEVELOPER_BINDING = "gatekeeper-dev:developers"
FIELD_MANAGER = "gatekeeper-dev-cluster"

_READ_WRITE = ["get", "list", "watch", "create", "update", "patch", "delete", "deletecollection"]
# Namespaced resources a human developer edits. `namespaces` is left out on purpose: a
# RoleBinding that named it would let them delete the very namespace they were granted.
_CORE_EDITABLE = [
    "configmaps",
    "endpoints",
    "events",
    "persistentvolumeclaims",
    "pods",
    "pods/log",
    "replicationcontrollers",
    "secrets",
    "serviceaccounts",
    "services",
]
_GROUPS_EDITABLE = [
    "apps",
    "batch",
    "autoscaling",
    "policy",
    "networking.k8s.io",
    "coordination.k8s.io",
    "discovery.k8s.io",
]


def reconciler_role() -> Manifest:
    """What a GitOps reconciler needs cluster-wide: apply, list, delete anything; Leases."""
    return {
        "apiVersion": RBAC_API,
        "kind": "ClusterRole",
        "metadata": {"name": RECONCILER_ROLE},
        "rules": [
            {"apiGroups": ["*"], "resources": ["*"], "verbs": _READ_WRITE},
            {"nonResourceURLs": ["*"], "verbs": ["get"]},
        ],
    }


def reconciler_binding() -> Manifest:
    return {
        "apiVersion": RBAC_API,
        "kind": "ClusterRoleBinding",
        "metadata": {"name": RECONCILER_ROLE},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": RECONCILER_ROLE,
        },
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": RECONCILER.username}
        ],
    }


def developer_role() -> Manifest:
    """Edit rights for humans, granted namespace by namespace (never cluster-wide).

    The built-in `edit` role is an aggregated role that only kube-controller-manager fills in,
    and there is none here, so the rules are spelt out.
    """
    return {
        "apiVersion": RBAC_API,
        "kind": "ClusterRole",
        "metadata": {"name": DEVELOPER_ROLE},
        "rules": [
            {"apiGroups": [""], "resources": _CORE_EDITABLE, "verbs": _READ_WRITE},
            {"apiGroups": _GROUPS_EDITABLE, "resources": ["*"], "verbs": _READ_WRITE},
        ],
    }


def developer_binding(namespace: str) -> Manifest:
    """Grant alice and breakglass (through their groups) edit rights in one namespace."""
    return {
        "apiVersion": RBAC_API,
        "kind": "RoleBinding",
        "metadata": {"name": DEVELOPER_BINDING, "namespace": namespace},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": DEVELOPER_ROLE,
        },
        "subjects": [
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": DEVELOPERS_GROUP},
            {"apiGroup": "rbac.authorization.k8s.io", "kind": "Group", "name": BREAK_GLASS_GROUP},
        ],
    }


def cluster_manifests() -> list[Manifest]:
    """Everything applied once when a control plane comes up (humans get `default`)."""
    return [reconciler_role(), reconciler_binding(), developer_role(), developer_binding("default")]
