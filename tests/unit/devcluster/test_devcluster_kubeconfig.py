"""Kubeconfig files written for each identity of the local control plane."""

from __future__ import annotations

import base64
import stat
from pathlib import Path

import yaml
from kubernetes import config

from gatekeeper.devcluster.kubeconfig import kubeconfig_document, write_kubeconfig
from gatekeeper.devcluster.pki import CertificateAuthority


def test_kubeconfig_points_one_context_at_the_server_with_the_users_token() -> None:
    doc = kubeconfig_document(
        server="https://127.0.0.1:6443", ca_pem=b"PEM", user="alice", token="secret"
    )

    assert doc["current-context"] == "alice@gatekeeper-dev"
    [cluster] = doc["clusters"]
    assert cluster["cluster"]["server"] == "https://127.0.0.1:6443"
    assert base64.b64decode(cluster["cluster"]["certificate-authority-data"]) == b"PEM"
    assert doc["users"] == [{"name": "alice", "user": {"token": "secret"}}]
    assert doc["contexts"][0]["context"] == {"cluster": "gatekeeper-dev", "user": "alice"}


def test_written_kubeconfig_is_private_and_loads_in_the_official_client(tmp_path: Path) -> None:
    ca = CertificateAuthority.create()
    path = write_kubeconfig(
        tmp_path / "kube" / "reconciler.yaml",
        server="https://127.0.0.1:7443",
        ca_pem=ca.cert_pem,
        user="reconciler",
        token="tok-123",
    )

    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert yaml.safe_load(path.read_text())["users"][0]["user"]["token"] == "tok-123"
    api = config.new_client_from_config(config_file=str(path))
    try:
        configuration = api.configuration
        assert configuration.host == "https://127.0.0.1:7443"
        assert configuration.auth_settings()["BearerToken"]["value"] == "Bearer tok-123"
        assert Path(configuration.ssl_ca_cert).read_bytes() == ca.cert_pem
    finally:
        api.close()


def test_rewriting_a_kubeconfig_replaces_it(tmp_path: Path) -> None:
    path = tmp_path / "admin.yaml"
    for token in ("first", "second"):
        write_kubeconfig(path, server="https://127.0.0.1:1", ca_pem=b"x", user="admin", token=token)

    assert yaml.safe_load(path.read_text())["users"][0]["user"]["token"] == "second"
    assert [p.name for p in tmp_path.iterdir()] == ["admin.yaml"]
