"""Applies the RBAC manifests with server-side apply through the official Kubernetes client."""

from __future__ import annotations

import time
from collections.abc import Iterable
from pathlib import Path

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from gatekeeper.devcluster import DevClusterError, identities
from gatekeeper.devcluster.rbac import FIELD_MANAGER, Manifest, cluster_manifests, developer_binding

APPLY_PATCH = "application/apply-patch+yaml"


def apply_rbac(
    api: client.ApiClient, manifests: Iterable[Manifest], *, namespace_wait: float = 15.0
) -> None:
    """Server-side apply ClusterRoles, ClusterRoleBindings and RoleBindings (idempotent).

    A RoleBinding whose namespace does not exist yet is tried again for up to
    `namespace_wait` seconds: a freshly started kube-apiserver creates `default` only
    shortly after it first reports ready.
    """
    deadline = time.monotonic() + namespace_wait
    for manifest in manifests:
        while True:
            try:
                _apply_one(api, manifest)
                break
            except DevClusterError as exc:
                missing = isinstance(exc.__cause__, ApiException) and exc.__cause__.status == 404
                if not (missing and manifest["kind"] == "RoleBinding"):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)


def _apply_one(api: client.ApiClient, manifest: Manifest) -> None:
    rbac = client.RbacAuthorizationV1Api(api)
    kind = manifest["kind"]
    name = manifest["metadata"]["name"]
    try:
        if kind == "ClusterRole":
            rbac.patch_cluster_role(
                name,
                manifest,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type=APPLY_PATCH,
            )
        elif kind == "ClusterRoleBinding":
            rbac.patch_cluster_role_binding(
                name,
                manifest,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type=APPLY_PATCH,
            )
        elif kind == "RoleBinding":
            namespace = manifest["metadata"]["namespace"]
            rbac.patch_namespaced_role_binding(
                name,
                namespace,
                manifest,
                field_manager=FIELD_MANAGER,
                force=True,
                _content_type=APPLY_PATCH,
            )
        else:
            raise DevClusterError(f"cannot apply a {kind} here")
    except ApiException as exc:
        raise DevClusterError(f"applying {kind} {name} failed: {exc.status} {exc.reason}") from exc


def apply_cluster_rbac(admin_kubeconfig: Path) -> None:
    """Give the static-token users their rights on a freshly started control plane."""
    api = config.new_client_from_config(config_file=str(admin_kubeconfig))  # type: ignore[no-untyped-call]
    with api:
        apply_rbac(api, cluster_manifests())


def grant_developers(api: client.ApiClient, namespace: str, *, timeout: float = 15.0) -> None:
    """Let alice and breakglass edit ordinary objects in `namespace`; returns once they can.

    kube-apiserver's authorizer reads bindings from a cache that follows the API a little
    later, so a request right after the binding is created can still be refused. A
    SubjectAccessReview asks the same authorizer, so once it allows both users, so will it.
    """
    apply_rbac(api, [developer_binding(namespace)])
    reviews = client.AuthorizationV1Api(api)
    deadline = time.monotonic() + timeout
    for identity in (identities.ALICE, identities.BREAKGLASS):
        review = client.V1SubjectAccessReview(
            spec=client.V1SubjectAccessReviewSpec(
                user=identity.username,
                groups=list(identity.groups),
                resource_attributes=client.V1ResourceAttributes(
                    namespace=namespace, verb="create", resource="configmaps"
                ),
            )
        )
        while not _allowed(reviews.create_subject_access_review(review)):
            if time.monotonic() > deadline:
                raise DevClusterError(
                    f"{identity.username} still cannot edit in {namespace} after {timeout:g} s"
                )
            time.sleep(0.05)


def _allowed(review: client.V1SubjectAccessReview) -> bool:
    return review.status is not None and bool(review.status.allowed)
