"""Who may read, decided by the real kube-apiserver: TokenReview, then SubjectAccessReview."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
import yaml
from kubernetes import client

from gatekeeper.dashboard.auth import KubernetesReviews
from gatekeeper.dashboard.errors import Forbidden, Unauthenticated
from gatekeeper.kube.client import KubeClient
from tests.fixtures.cluster import Cluster

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def _token(cluster: Cluster, user: str) -> str:
    if cluster.impersonate:
        pytest.skip("the cluster's users are impersonated: no bearer token to review")
    document = yaml.safe_load(cluster.kubeconfigs[user].read_text())
    return str(document["users"][0]["user"]["token"])


@pytest.fixture
def auditor_role(admin_api: client.ApiClient, cluster: Cluster) -> Iterator[str]:
    """A ClusterRole granting `get` on reports.gatekeeper.dev, bound to alice; removed after."""
    name = f"t-auditor-{secrets.token_hex(4)}"
    rbac = client.RbacAuthorizationV1Api(admin_api)
    rbac.create_cluster_role(
        {
            "metadata": {"name": name},
            "rules": [
                {"apiGroups": ["gatekeeper.dev"], "resources": ["reports"], "verbs": ["get"]}
            ],
        }
    )
    rbac.create_cluster_role_binding(
        {
            "metadata": {"name": name},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": name,
            },
            "subjects": [
                {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "User",
                    "name": cluster.username("alice"),
                }
            ],
        }
    )
    yield name
    rbac.delete_cluster_role_binding(name)
    rbac.delete_cluster_role(name)


def _reviews(cluster: Cluster) -> KubernetesReviews:
    return KubernetesReviews(KubeClient.from_kubeconfig(cluster.admin_kubeconfig))


def test_a_token_the_api_server_knows_names_its_user(cluster: Cluster) -> None:
    principal = _reviews(cluster).authenticate(_token(cluster, "alice"))
    assert principal.user == cluster.username("alice")
    with pytest.raises(Unauthenticated):
        _reviews(cluster).authenticate("not-a-token-" + secrets.token_hex(8))


def test_without_a_role_on_reports_nobody_reads(cluster: Cluster) -> None:
    reviews = _reviews(cluster)
    principal = reviews.authenticate(_token(cluster, "alice"))
    with pytest.raises(Forbidden, match="may not get reports"):
        reviews.authorize(principal, "get")


def test_an_auditor_role_lets_read_but_not_make_reports(
    cluster: Cluster, auditor_role: str
) -> None:
    reviews = _reviews(cluster)
    principal = reviews.authenticate(_token(cluster, "alice"))
    reviews.authorize(principal, "get")
    with pytest.raises(Forbidden, match="may not create reports"):
        reviews.authorize(principal, "create")
