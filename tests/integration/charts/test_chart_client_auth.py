"""The chart's defences against reviews from anyone but the API server: the webhook's client
CA (a Secret, a ConfigMap or inline PEM, mounted and named as server.clientCaFile) and a
NetworkPolicy that opens the webhook's port to the API server's addresses and the metrics
scrapers only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from gatekeeper.devcluster.pki import CertificateAuthority
from tests.integration.charts.test_chart import (
    EVERYTHING,
    _dry_run,
    by_name,
    configuration,
    helm_python,
    notes,
    pod_spec,
    render,
)

CA_PEM = CertificateAuthority.create("kube-apiserver webhook-client CA").cert_pem.decode()
MOUNT = "/etc/gatekeeper-client-ca"


def _webhook_container(documents: list[dict[str, Any]]) -> dict[str, Any]:
    container: dict[str, Any] = pod_spec(documents, "gk-webhook")["containers"][0]
    return container


@pytest.mark.parametrize(
    ("client_auth", "volume"),
    [
        (
            {"caSecret": "apiserver-client-ca"},
            {
                "secret": {
                    "secretName": "apiserver-client-ca",
                    "items": [{"key": "ca.crt", "path": "ca.crt"}],
                }
            },
        ),
        (
            {"caConfigMap": "apiserver-client-ca", "caKey": "bundle.pem"},
            {
                "configMap": {
                    "name": "apiserver-client-ca",
                    "items": [{"key": "bundle.pem", "path": "ca.crt"}],
                }
            },
        ),
        ({"caPem": CA_PEM}, {"configMap": {"name": "gk-webhook-client-ca"}}),
    ],
    ids=["secret", "config-map", "inline"],
)
def test_the_client_ca_is_mounted_and_named_in_the_configuration(
    tmp_path: Path, client_auth: dict[str, Any], volume: dict[str, Any]
) -> None:
    values = {"webhook": {"clientAuth": {**client_auth, "names": ["kube-apiserver"]}}}
    documents = render("gk", values)
    settings = configuration(documents, tmp_path)
    assert settings.server.client_ca_file == Path(f"{MOUNT}/ca.crt")
    assert settings.server.client_names == ["kube-apiserver"]
    assert settings.server.host == "0.0.0.0"
    volumes = {v["name"]: v for v in pod_spec(documents, "gk-webhook")["volumes"]}
    assert volumes["client-ca"] == {"name": "client-ca", **volume}
    mounts = {m["name"]: m for m in _webhook_container(documents)["volumeMounts"]}
    assert mounts["client-ca"] == {"name": "client-ca", "mountPath": MOUNT, "readOnly": True}
    inline = [d for d in documents if d["metadata"]["name"] == "gk-webhook-client-ca"]
    if "caPem" in client_auth:
        assert inline[0]["data"]["ca.crt"].strip() == CA_PEM.strip()
    else:
        assert inline == []
    # Only the webhook checks client certificates.
    for name in ("gk-reconciler", "gk-dashboard"):
        assert "client-ca" not in {v["name"] for v in pod_spec(documents, name)["volumes"]}
    assert "no webhook.clientAuth CA is set" not in notes(values)


def test_without_a_client_ca_nothing_is_mounted_and_the_notes_warn(tmp_path: Path) -> None:
    documents = render("gk")
    settings = configuration(documents, tmp_path)
    assert settings.server.client_ca_file is None
    assert "client-ca" not in {v["name"] for v in pod_spec(documents, "gk-webhook")["volumes"]}
    assert "any client that reaches the webhook's port can" in notes({})


@pytest.mark.parametrize(
    ("client_auth", "refusal"),
    [
        ({"caSecret": "a", "caPem": CA_PEM}, "caSecret and caPem are all set"),
        ({"names": ["kube-apiserver"]}, "names needs a client CA"),
        ({"caPem": "not a certificate"}, "caPem is not a PEM certificate"),
    ],
)
def test_a_client_ca_the_webhook_could_not_use_is_refused(
    client_auth: dict[str, Any], refusal: str
) -> None:
    with pytest.raises(helm_python.errors.HelmRenderError, match=refusal):
        render("gk", {"webhook": {"clientAuth": client_auth}})


def test_the_network_policy_opens_the_webhook_port_to_the_api_server_and_scrapers_only() -> None:
    values = {
        "webhook": {"port": 9443},
        "networkPolicy": {
            "apiServer": [
                {"ipBlock": {"cidr": "172.16.0.10/32"}},
                {"ipBlock": {"cidr": "172.16.0.11/32"}},
            ],
            "metrics": {
                "namespaceSelector": {"matchLabels": {"team": "monitoring"}},
                "podSelector": {"matchLabels": {"app": "prometheus"}},
            },
        },
    }
    documents = render("gk", values)
    policy = by_name(documents, "NetworkPolicy", "gk-webhook")["spec"]
    deployment = by_name(documents, "Deployment", "gk-webhook")
    assert policy["podSelector"] == deployment["spec"]["selector"]
    assert policy["policyTypes"] == ["Ingress"]
    port = [{"port": 9443, "protocol": "TCP"}]
    assert policy["ingress"] == [
        {"ports": port, "from": values["networkPolicy"]["apiServer"]},
        {
            "ports": port,
            "from": [
                {
                    "namespaceSelector": {"matchLabels": {"team": "monitoring"}},
                    "podSelector": {"matchLabels": {"app": "prometheus"}},
                }
            ],
        },
    ]
    assert "networkPolicy.apiServer is empty" not in notes(values)


def test_by_default_the_port_is_open_until_the_api_servers_addresses_are_given() -> None:
    policy = by_name(render("gk"), "NetworkPolicy", "gk-webhook")["spec"]
    # An empty namespaceSelector would open the port to every namespace: no metrics rule.
    assert policy["ingress"] == [{"ports": [{"port": 8443, "protocol": "TCP"}]}]
    assert "networkPolicy.apiServer is empty" in notes({})


def test_the_network_policy_can_be_switched_off() -> None:
    documents = render("gk", {"networkPolicy": {"enabled": False}})
    assert not [d for d in documents if d["kind"] == "NetworkPolicy"]
    assert "networkPolicy.apiServer is empty" not in notes({"networkPolicy": {"enabled": False}})


@pytest.mark.cluster
@pytest.mark.parametrize("client_auth", [{"caPem": CA_PEM}, {"caSecret": "apiserver-client-ca"}])
def test_a_real_api_server_accepts_the_network_policy_and_the_client_ca(
    admin_api: Any, namespace: str, client_auth: dict[str, Any]
) -> None:
    values = {**EVERYTHING, "webhook": {"clientAuth": {**client_auth, "names": ["kube-apiserver"]}}}
    documents = render(namespace, values)
    assert {d["kind"] for d in documents} >= {"NetworkPolicy", "ConfigMap"}
    _dry_run(admin_api, documents, namespace)
