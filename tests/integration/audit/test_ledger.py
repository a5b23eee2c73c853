"""The provenance ledger the webhook checks against what the reconciler recorded."""

from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from gatekeeper.audit.ledger import Ledger
from gatekeeper.audit.store import AuditStore
from gatekeeper.canonical import manifest_digest
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey

pytestmark = pytest.mark.integration

DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "team-a"},
    "spec": {"replicas": 2},
}


def test_object_keys_ignore_the_api_version() -> None:
    key = ObjectKey.of(DEPLOYMENT)
    assert key == ObjectKey.of({**DEPLOYMENT, "apiVersion": "apps/v1beta2"})
    assert (key.api_group, key.kind, key.namespace, key.name) == (
        "apps",
        "Deployment",
        "team-a",
        "web",
    )
    assert str(key) == "apps/Deployment/team-a/web"
    core = ObjectKey.of({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a"}})
    assert str(core) == "Namespace/a"
    defaulted = ObjectKey.of(
        {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c"}}, "ns"
    )
    assert defaulted.namespace == "ns"


def test_a_recorded_commit_and_its_objects_can_be_looked_up(store: AuditStore) -> None:
    ledger = Ledger(store)
    commit = "c" * 40
    assert ledger.verified_commit("apps", commit) is None
    ledger.record_commit("apps", commit, signer="alice", key_id="ABC", format="openpgp")
    ledger.record_desired(
        "apps", commit, [DesiredObject(ObjectKey.of(DEPLOYMENT), "apps/web.yaml", DEPLOYMENT)]
    )
    found = ledger.verified_commit("apps", commit)
    assert found is not None and (found.signer, found.format) == ("alice", "openpgp")
    desired = Ledger(store).desired("apps", commit, ObjectKey.of(DEPLOYMENT))
    assert desired == (manifest_digest(DEPLOYMENT), "apps/web.yaml", DEPLOYMENT)
    assert ledger.desired("apps", "d" * 40, ObjectKey.of(DEPLOYMENT)) is None
    assert ledger.verified_commit("other", commit) is None


def test_recording_the_same_commit_twice_keeps_the_first_record(store: AuditStore) -> None:
    ledger = Ledger(store)
    ledger.record_commit("apps", "a" * 40, signer="alice")
    ledger.record_commit("apps", "a" * 40, signer="mallory")
    item = DesiredObject(ObjectKey.of(DEPLOYMENT), "p.yaml", DEPLOYMENT)
    ledger.record_desired("apps", "a" * 40, [item])
    ledger.record_desired("apps", "a" * 40, [item])
    found = Ledger(store).verified_commit("apps", "a" * 40)
    assert found is not None and found.signer == "alice"


@pytest.mark.parametrize("table", ["verified_commits", "desired_objects"])
def test_ledger_rows_cannot_be_changed_or_deleted(store: AuditStore, table: str) -> None:
    ledger = Ledger(store)
    ledger.record_commit("apps", "a" * 40)
    ledger.record_desired(
        "apps", "a" * 40, [DesiredObject(ObjectKey.of(DEPLOYMENT), "p", DEPLOYMENT)]
    )
    for statement in (f"UPDATE {table} SET source = 'x'", f"DELETE FROM {table}"):
        with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as connection:
            connection.execute(text(statement))
