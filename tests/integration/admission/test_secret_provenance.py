"""Secrets through the real ledger: no value is stored, yet the reconciler's apply is admitted."""

from __future__ import annotations

import base64
import copy
from typing import Any

import pytest
from sqlalchemy import text

from gatekeeper.admission.decision import review
from gatekeeper.audit.ledger import Ledger
from gatekeeper.audit.store import AuditStore
from gatekeeper.canonical import manifest_digest
from gatekeeper.kube import contract
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.settings import AdmissionSettings
from tests.unit.admission.doubles import COMMIT, RECONCILER, SOURCE, MemoryPolicies, request

pytestmark = pytest.mark.integration

SETTINGS = AdmissionSettings(reconciler_identity=RECONCILER)
SECRET: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Secret",
    "metadata": {"name": "db", "namespace": "shop"},
    "type": "Opaque",
    "data": {"user": base64.b64encode(b"app").decode()},
    "stringData": {"password": "hunter2"},
}


def as_admitted(manifest: dict[str, Any], password: str = "hunter2") -> dict[str, Any]:
    """What the API server sends the webhook: stringData folded into data, metadata added."""
    obj = contract.annotate(manifest, source=SOURCE, commit=COMMIT)
    obj.pop("stringData", None)
    obj["data"] = {**obj["data"], "password": base64.b64encode(password.encode()).decode()}
    obj["metadata"].update({"uid": "5ec2", "resourceVersion": "3"})
    return obj


@pytest.fixture
def ledger(store: AuditStore) -> Ledger:
    found = Ledger(store)
    found.record_commit(SOURCE, COMMIT, signer="alice", key_id="F00D", format="openpgp")
    found.record_desired(
        SOURCE, COMMIT, [DesiredObject(ObjectKey.of(SECRET), "apps/secret.yaml", SECRET)]
    )
    return found


def test_the_ledger_keeps_digests_not_secret_values(store: AuditStore, ledger: Ledger) -> None:
    with store.engine.connect() as connection:
        stored = connection.execute(text("SELECT manifest FROM desired_objects")).scalar_one()
    assert "hunter2" not in stored and base64.b64encode(b"hunter2").decode() not in stored
    assert base64.b64encode(b"app").decode() not in stored
    recorded = Ledger(store).desired(SOURCE, COMMIT, ObjectKey.of(SECRET))
    assert recorded is not None
    digest, _, manifest = recorded
    assert digest == manifest_digest(SECRET)
    assert "stringData" not in manifest and set(manifest["data"]) == {"user", "password"}


def test_the_reconciler_applying_the_recorded_secret_is_admitted(ledger: Ledger) -> None:
    verdict = review(
        request("CREATE", obj=as_admitted(copy.deepcopy(SECRET)), user=RECONCILER, groups=()),
        settings=SETTINGS,
        ledger=ledger,
        policies=MemoryPolicies(),
    )
    assert verdict.allowed, verdict.message


def test_a_secret_value_other_than_gits_is_refused_without_showing_it(ledger: Ledger) -> None:
    verdict = review(
        request(
            "CREATE",
            obj=as_admitted(copy.deepcopy(SECRET), password="stolen"),
            user=RECONCILER,
            groups=(),
        ),
        settings=SETTINGS,
        ledger=ledger,
        policies=MemoryPolicies(),
    )
    assert not verdict.allowed
    assert "data.password" in verdict.message
    assert "stolen" not in verdict.message and "hunter2" not in verdict.message
