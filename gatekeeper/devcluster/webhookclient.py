"""How the local kube-apiserver proves itself to the webhooks it calls: a client certificate.

kube-apiserver reads, through `--admission-control-config-file`, an AdmissionConfiguration
whose ValidatingAdmissionWebhook and MutatingAdmissionWebhook plugins name a kubeconfig. That
kubeconfig's `users[].name` is matched against the host of the webhook being called: first
`host:port` exactly, then `*.domain` wildcards, then (for port 443) the same without the port,
and last `*`. The test and demo webhooks listen on 127.0.0.1 with ports chosen at random, so
the plane's one user is `*`: every webhook it calls gets the same client certificate, issued
by a CA of its own (not the cluster CA), which the webhooks trust as `server.clientCaFile`.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import yaml

from gatekeeper.devcluster.kubeconfig import write_private
from gatekeeper.devcluster.layout import Layout
from gatekeeper.devcluster.pki import CertificateAuthority

# The subject of the certificate, what `server.clientNames` can list.
CLIENT_NAME = "kube-apiserver"
_ADMISSION_API = "apiserver.config.k8s.io/v1"


def admission_configuration(kubeconfig: Path) -> dict[str, Any]:
    """The AdmissionConfiguration that gives both webhook plugins `kubeconfig`."""
    plugin_config = {
        "apiVersion": _ADMISSION_API,
        "kind": "WebhookAdmissionConfiguration",
        "kubeConfigFile": str(kubeconfig),
    }
    return {
        "apiVersion": _ADMISSION_API,
        "kind": "AdmissionConfiguration",
        "plugins": [
            {"name": name, "configuration": plugin_config}
            for name in ("ValidatingAdmissionWebhook", "MutatingAdmissionWebhook")
        ],
    }


def client_kubeconfig(cert_pem: bytes, key_pem: bytes) -> dict[str, Any]:
    """A kubeconfig with one user, `*`, holding the client certificate and key."""

    def data(pem: bytes) -> str:
        return base64.b64encode(pem).decode("ascii")

    return {
        "apiVersion": "v1",
        "kind": "Config",
        "users": [
            {
                "name": "*",
                "user": {
                    "client-certificate-data": data(cert_pem),
                    "client-key-data": data(key_pem),
                },
            }
        ],
    }


def prepare(layout: Layout) -> None:
    """Make the webhook-client CA, kube-apiserver's certificate from it, its kubeconfig and
    the AdmissionConfiguration naming it."""
    ca = CertificateAuthority.create("gatekeeper dev-cluster webhook-client CA")
    issued = ca.issue_client(CLIENT_NAME)
    write_private(layout.webhook_client_ca, ca.cert_pem)
    write_private(layout.webhook_client_ca_key, ca.key_pem)
    document = client_kubeconfig(issued.cert_pem, issued.key_pem)
    write_private(layout.webhook_client_kubeconfig, yaml.safe_dump(document, sort_keys=False))
    configuration = admission_configuration(layout.webhook_client_kubeconfig)
    write_private(layout.admission_config, yaml.safe_dump(configuration, sort_keys=False))
