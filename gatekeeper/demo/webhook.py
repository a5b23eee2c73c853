"""The admission webhook of the demo: served in this process over TLS, registered as admin."""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from gatekeeper.admission import server as admission_server
from gatekeeper.admission.app import create_app
from gatekeeper.demo.errors import DemoFailed
from gatekeeper.demo.manifests import DEMO_LABEL
from gatekeeper.devcluster.pki import CertificateAuthority
from gatekeeper.devcluster.webhookclient import CLIENT_NAME
from gatekeeper.settings import Settings

# What the webhook reviews: the kinds the demo's source manages inside its namespace, with
# every subresource of theirs (`status`, `scale`, ...), through which provenance metadata
# could otherwise be changed unseen.
RULES: list[dict[str, Any]] = [
    {
        "apiGroups": ["apps"],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE", "DELETE"],
        "resources": ["deployments", "deployments/*"],
        "scope": "Namespaced",
    },
    {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE", "DELETE"],
        "resources": ["configmaps", "configmaps/*"],
        "scope": "Namespaced",
    },
]


@dataclass
class DemoWebhook:
    """The real admission app on https://127.0.0.1:PORT and its ValidatingWebhookConfiguration."""

    thread: admission_server.ServerThread
    ca_pem: bytes
    name: str = ""

    @classmethod
    def start(
        cls, settings: Settings, folder: Path, *, client_ca_file: Path | None = None
    ) -> DemoWebhook:
        """Make a CA and a serving certificate for IP:127.0.0.1, then serve the app; with
        `client_ca_file` (the plane's webhook-client CA), only kube-apiserver's certificate
        may submit reviews."""
        ca = CertificateAuthority.create("gatekeeper demo webhook CA")
        issued = ca.issue_server("127.0.0.1", ips=("127.0.0.1",), dns_names=())
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "ca.crt").write_bytes(ca.cert_pem)
        cert_file, key_file = folder / "webhook.crt", folder / "webhook.key"
        cert_file.write_bytes(issued.cert_pem)
        key_file.touch(mode=0o600)
        key_file.write_bytes(issued.key_pem)
        listen = admission_server.Listen(
            host="127.0.0.1", port=0, cert_file=cert_file, key_file=key_file
        )
        if client_ca_file is not None:
            server = settings.server.model_copy(
                update={"client_ca_file": client_ca_file, "client_names": [CLIENT_NAME]}
            )
            settings = settings.model_copy(update={"server": server})
        thread = admission_server.ServerThread(
            admission_server.build_server(create_app(settings), listen),
            admission_server.bind("127.0.0.1"),
        )
        thread.start()
        return cls(thread=thread, ca_pem=ca.cert_pem)

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.thread.port}/validate"

    def register(self, admin: client.ApiClient, *, namespace: str) -> str:
        """Create the configuration: fail closed, only for the namespace labelled for the demo."""
        self.name = f"gatekeeper-demo-{namespace}-{secrets.token_hex(3)}"
        body = {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": {"name": self.name},
            "webhooks": [
                {
                    "name": "validate.gatekeeper.dev",
                    "clientConfig": {
                        "url": self.url,
                        "caBundle": base64.b64encode(self.ca_pem).decode("ascii"),
                    },
                    "rules": RULES,
                    "namespaceSelector": {"matchLabels": {DEMO_LABEL: namespace}},
                    "failurePolicy": "Fail",
                    "matchPolicy": "Equivalent",
                    "sideEffects": "NoneOnDryRun",
                    "admissionReviewVersions": ["v1"],
                    "timeoutSeconds": 5,
                }
            ],
        }
        model = client.V1ValidatingWebhookConfiguration.from_dict(body)
        if model is None:
            raise DemoFailed("the webhook configuration did not parse")
        client.AdmissionregistrationV1Api(admin).create_validating_webhook_configuration(model)
        return self.name

    def unregister(self, admin: client.ApiClient) -> None:
        """Delete the configuration: with failurePolicy Fail, a stopped webhook must not stay."""
        if not self.name:
            return
        try:
            client.AdmissionregistrationV1Api(admin).delete_validating_webhook_configuration(
                self.name
            )
        except ApiException as exc:
            if exc.status != 404:
                raise
        self.name = ""

    def stop(self) -> None:
        self.thread.stop()
