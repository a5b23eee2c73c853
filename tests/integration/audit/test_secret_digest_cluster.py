"""Keyed Secret digests behind the real kube-apiserver: the webhook recognises a managed
Secret the reconciler applies unchanged when both use the installation's key, and only then;
the ledger keeps digests that cannot be reproduced without it."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException
from sqlalchemy import text

from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.ledger import Ledger
from gatekeeper.audit.secret_digest import SecretDigester, load_key_file
from gatekeeper.audit.store import AuditStore
from gatekeeper.devcluster.identities import RECONCILER
from gatekeeper.kube import contract
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.settings import Settings
from tests.fixtures.cluster import APPLY_PATCH
from tests.integration.admission.test_webhook_cluster import ROOT, serving

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]

COMMIT = "5e" * 20
PASSWORD = "correct horse battery staple"
RULES = [
    {
        "apiGroups": [""],
        "apiVersions": ["v1"],
        "operations": ["CREATE", "UPDATE"],
        "resources": ["secrets"],
        "scope": "Namespaced",
    }
]


def secret(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "db", "namespace": namespace},
        "type": "Opaque",
        "stringData": {"password": PASSWORD},
    }


def apply(api: client.ApiClient, manifest: dict[str, Any]) -> Any:
    return client.CoreV1Api(api).patch_namespaced_secret(
        manifest["metadata"]["name"],
        manifest["metadata"]["namespace"],
        manifest,
        field_manager=contract.FIELD_MANAGER,
        force=True,
        _content_type=APPLY_PATCH,
    )


@pytest.mark.parametrize("same_key", [True, False])
def test_the_webhook_recognises_an_unchanged_secret_only_under_the_shared_key(
    tmp_path: Path,
    admin_api: client.ApiClient,
    reconciler_api: client.ApiClient,
    namespace: str,
    registered_webhooks: list[str],
    same_key: bool,
) -> None:
    key_file = tmp_path / "secret-digest.key"
    key_file.write_text("9a" * 32 + "\n")
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    engine = create_database_engine(url)
    migrate.upgrade(engine)
    # The reconciler and the webhook are separate processes: separate stores, each loading
    # the key file itself.
    reconciler_store = AuditStore(engine, secret_digester=load_key_file(key_file))
    webhook_digester = load_key_file(key_file) if same_key else SecretDigester(b"x" * 32)
    webhook_store = AuditStore(engine, secret_digester=webhook_digester)
    manifest = secret(namespace)
    ledger = Ledger(reconciler_store)
    ledger.record_commit("apps", COMMIT, signer="alice", key_id="F00D", format="openpgp")
    ledger.record_desired(
        "apps", COMMIT, [DesiredObject(ObjectKey.of(manifest), "apps/db.yaml", manifest)]
    )
    with engine.connect() as connection:
        stored = connection.execute(text("SELECT manifest FROM desired_objects")).scalar_one()
    encoded = base64.b64encode(PASSWORD.encode()).decode()
    assert PASSWORD not in stored and encoded not in stored
    assert hashlib.sha256(encoded.encode()).hexdigest() not in stored
    assert "hmac-sha256:" in stored

    settings = Settings(
        database={"url": url},
        policies={"paths": [str(ROOT / "policies")]},
        admission={"reconcilerIdentity": RECONCILER.username},
    )
    with serving(
        settings,
        webhook_store,
        tmp_path,
        admin_api,
        namespace=namespace,
        rules=RULES,
        created=registered_webhooks,
    ):
        annotated = contract.annotate(manifest, source="apps", commit=COMMIT)
        if same_key:
            applied = apply(reconciler_api, annotated)
            assert applied.metadata.annotations[contract.COMMIT_ANNOTATION] == COMMIT
            assert base64.b64decode(applied.data["password"]).decode() == PASSWORD
        else:
            with pytest.raises(ApiException) as refused:
                apply(reconciler_api, annotated)
            assert refused.value.status == 403
            assert "data.password" in str(refused.value.body)
    engine.dispose()
