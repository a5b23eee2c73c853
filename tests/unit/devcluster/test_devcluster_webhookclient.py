"""The files that make the local kube-apiserver show webhooks a client certificate."""

from __future__ import annotations

import base64
import ssl
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from gatekeeper.devcluster import webhookclient
from gatekeeper.devcluster.layout import Layout


def test_prepare_writes_a_ca_a_kubeconfig_for_every_webhook_and_the_admission_config(
    tmp_path: Path,
) -> None:
    layout = Layout(tmp_path)
    webhookclient.prepare(layout)

    configuration = yaml.safe_load(layout.admission_config.read_text())
    assert (configuration["apiVersion"], configuration["kind"]) == (
        "apiserver.config.k8s.io/v1",
        "AdmissionConfiguration",
    )
    plugins = {p["name"]: p["configuration"] for p in configuration["plugins"]}
    assert set(plugins) == {"ValidatingAdmissionWebhook", "MutatingAdmissionWebhook"}
    for plugin in plugins.values():
        assert plugin["kind"] == "WebhookAdmissionConfiguration"
        assert plugin["kubeConfigFile"] == str(layout.webhook_client_kubeconfig)

    kubeconfig = yaml.safe_load(layout.webhook_client_kubeconfig.read_text())
    [user] = kubeconfig["users"]
    # Webhooks on 127.0.0.1 get random ports: only `*` matches every one.
    assert user["name"] == "*"
    cert_pem = base64.b64decode(user["user"]["client-certificate-data"])
    key_pem = base64.b64decode(user["user"]["client-key-data"])
    cert = x509.load_pem_x509_certificate(cert_pem)
    assert cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value == "kube-apiserver"
    usage = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(usage) == [ExtendedKeyUsageOID.CLIENT_AUTH]
    ca = x509.load_pem_x509_certificate(layout.webhook_client_ca.read_bytes())
    cert.verify_directly_issued_by(ca)
    # The key belongs to the certificate, and only the owner can read the files.
    (tmp_path / "c.pem").write_bytes(cert_pem)
    (tmp_path / "k.pem").write_bytes(key_pem)
    ssl.create_default_context().load_cert_chain(tmp_path / "c.pem", tmp_path / "k.pem")
    for path in (layout.webhook_client_kubeconfig, layout.webhook_client_ca_key):
        assert path.stat().st_mode & 0o077 == 0
