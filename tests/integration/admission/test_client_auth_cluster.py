"""Behind the local kube-apiserver, only kube-apiserver's reviews are decided and recorded.

The plane's kube-apiserver shows webhooks a client certificate from its webhook-client CA
(an AdmissionConfiguration); the webhook trusts that CA (`server.clientCaFile`) and the name
`kube-apiserver` (`server.clientNames`). Reviews POSTed by anyone else, with a made-up
break-glass user, leave the audit store exactly as it was.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from kubernetes import client

from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.store import AuditStore
from gatekeeper.devcluster.identities import BREAK_GLASS_GROUP, RECONCILER
from gatekeeper.devcluster.pki import CertificateAuthority
from gatekeeper.settings import Settings
from tests.fixtures.cluster import Cluster, webhook_client_authority
from tests.integration.admission.test_client_auth import FORGED
from tests.integration.admission.test_webhook_cluster import RULES, RunningWebhook, serving

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def webhook(
    cluster: Cluster,
    admin_api: client.ApiClient,
    namespace: str,
    tmp_path: Path,
    registered_webhooks: list[str],
) -> Iterator[RunningWebhook]:
    if cluster.webhook_client_ca is None:
        pytest.skip("an external cluster's API server shows no client certificate we know")
    engine = create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    settings = Settings(
        database={"url": f"sqlite:///{tmp_path / 'audit.db'}"},
        policies={"paths": [str(ROOT / "policies")]},
        admission={
            "reconcilerIdentity": RECONCILER.username,
            "breakGlassGroups": [BREAK_GLASS_GROUP],
        },
    )
    try:
        with serving(
            settings,
            store,
            tmp_path,
            admin_api,
            namespace=namespace,
            rules=RULES,
            created=registered_webhooks,
        ) as running:
            yield running
    finally:
        store.close()


def _client(webhook: RunningWebhook, certificate: tuple[Path, Path] | None) -> httpx.Client:
    context = ssl.create_default_context(cadata=webhook.tls.ca_pem.decode())
    if certificate is not None:
        context.load_cert_chain(*certificate)
    return httpx.Client(verify=context, base_url=webhook.url(""))


def _issue(ca: CertificateAuthority, common_name: str, folder: Path) -> tuple[Path, Path]:
    issued = ca.issue_client(common_name)
    folder.mkdir(parents=True, exist_ok=True)
    cert, key = folder / f"{common_name}.crt", folder / f"{common_name}.key"
    cert.write_bytes(issued.cert_pem)
    key.write_bytes(issued.key_pem)
    return cert, key


def test_only_the_api_servers_reviews_are_decided_and_recorded(
    webhook: RunningWebhook,
    cluster: Cluster,
    alice_api: client.ApiClient,
    namespace: str,
    tmp_path: Path,
) -> None:
    assert webhook.tls.client_ca_file == cluster.webhook_client_ca
    parts = webhook.thread.server.config.app.state.parts
    assert parts.settings.server.client_ca_file == cluster.webhook_client_ca
    notes = client.V1ConfigMap(metadata=client.V1ObjectMeta(name="notes"), data={"a": "1"})

    # Through kube-apiserver: decided and recorded, with client authentication on.
    client.CoreV1Api(alice_api).create_namespaced_config_map(namespace, notes)
    [decision] = [r for r in webhook.decisions() if r.subject.endswith("/notes")]
    assert (decision.kind, decision.actor) == ("admission.allowed", "alice")
    before = webhook.store.head(), webhook.records()

    plane_ca = webhook_client_authority()
    assert plane_ca is not None
    forged = {**FORGED, "request": {**FORGED["request"], "namespace": namespace}}  # type: ignore[dict-item]
    with _client(webhook, None) as anonymous:
        no_certificate = anonymous.post("/validate", json=forged)
        probes = [anonymous.get(path).status_code for path in ("/healthz", "/readyz", "/metrics")]
    other_ca = CertificateAuthority.create("somebody else's CA")
    other_certificate = _issue(other_ca, "kube-apiserver", tmp_path / "other")
    with _client(webhook, other_certificate) as other, pytest.raises(httpx.TransportError):
        other.post("/validate", json=forged)
    with _client(webhook, _issue(plane_ca, "a-controller", tmp_path / "plane")) as unlisted:
        wrong_name = unlisted.post("/validate", json=forged)

    assert no_certificate.status_code == 401
    assert wrong_name.status_code == 403
    assert probes == [200, 200, 200]
    # Nothing of the forged reviews reached a decision or the store.
    assert (webhook.store.head(), webhook.records()) == before
    assert not [r for r in webhook.records() if r.kind == "breakglass" or r.actor == "bob"]
