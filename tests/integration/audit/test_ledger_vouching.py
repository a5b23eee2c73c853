"""The provenance ledger vouched for by the audit chain, on both engines: a forged or altered
row is found by `audit verify`, naming its table and row, and is not trusted by lookups."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, text

from gatekeeper.audit import chain, migrate
from gatekeeper.audit import ledger_rows as rows_
from gatekeeper.audit.ledger import Ledger
from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.verify import verify_store
from gatekeeper.cli import main
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey
from tests.integration.audit.row_support import MIN_SEQ, insert_record, stored_time
from tests.integration.audit.witness_support import write_config

pytestmark = pytest.mark.integration

COMMIT = "c" * 40
DEPLOYMENT = {
    "apiVersion": "apps/v1",
    "kind": "Deployment",
    "metadata": {"name": "web", "namespace": "team-a"},
    "spec": {"replicas": 2},
}
KEY = ObjectKey.of(DEPLOYMENT)
ROW = f"apps@{COMMIT} {KEY}"


def record(store: AuditStore, commit: str = COMMIT) -> Ledger:
    ledger = Ledger(store)
    ledger.record_commit("apps", commit, signer="alice", key_id="ABC", format="openpgp")
    ledger.record_desired("apps", commit, [DesiredObject(KEY, "apps/web.yaml", DEPLOYMENT)])
    return ledger


def forge(engine: Engine, *statements: str) -> None:
    """What an owner of the database does: lift the ledger's triggers, then write."""
    with engine.begin() as connection:
        for table in ("verified_commits", "desired_objects"):
            if connection.dialect.name == "postgresql":
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}"))
            else:
                for action in ("update", "delete"):
                    connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{action}"))
        for statement in statements:
            connection.execute(text(statement))


def findings(store: AuditStore) -> list[tuple[str, str | None, str | None]]:
    return [(f.problem, f.table, f.row) for f in verify_store(store, None).findings]


def test_a_healthy_ledger_verifies_and_every_row_is_vouched_for(store: AuditStore) -> None:
    record(store)
    record(store)  # recorded again: nothing new, no new record
    report = verify_store(store, None)
    assert report.ok and report.ledger is not None
    assert (report.ledger.vouched, report.ledger.legacy) == (2, 0)
    kinds = [r.kind for r in store.query(limit=10).records]
    assert kinds == ["ledger.recorded", "ledger.recorded"]


def test_an_invented_verified_commit_is_found_and_not_trusted(store: AuditStore) -> None:
    record(store)
    invented = "e" * 40
    forge(
        store.engine,
        "INSERT INTO verified_commits (source, commit_sha, verified_at, signer, key_id, format) "
        f"VALUES ('apps', '{invented}', '2026-12-01T00:00:00.000000Z', 'alice', 'ABC', 'openpgp')",
        "INSERT INTO verified_commits (source, commit_sha, verified_at, vouch_seq) "
        f"VALUES ('apps', '{'f' * 40}', '2026-12-01T00:00:00.000000Z', 1)",
    )
    assert sorted(findings(store)) == [
        ("ledger_unvouched", "verified_commits", f"apps@{invented}"),
        ("ledger_unvouched", "verified_commits", f"apps@{'f' * 40}"),
    ]
    assert Ledger(store).verified_commit("apps", invented) is None
    assert Ledger(store).verified_commit("apps", "f" * 40) is None
    assert Ledger(store).verified_commit("apps", COMMIT) is not None


def test_a_changed_desired_manifest_digest_is_found_and_not_trusted(store: AuditStore) -> None:
    record(store)
    forge(store.engine, "UPDATE desired_objects SET digest = 'sha256:' || 'ab'")
    assert findings(store) == [("ledger_mismatch", "desired_objects", ROW)]
    assert Ledger(store).desired("apps", COMMIT, KEY) is None


def test_a_deleted_desired_row_is_found(store: AuditStore) -> None:
    record(store)
    forge(store.engine, "DELETE FROM desired_objects")
    assert findings(store) == [("ledger_mismatch", "desired_objects", ROW)]


def test_the_cli_and_the_report_name_the_forged_row(
    store: AuditStore, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    config = write_config(tmp_path, store, signer)
    record(store)
    store.checkpoint(signer)
    assert main(["--config", str(config), "audit", "verify"]) == 0
    forge(store.engine, "UPDATE desired_objects SET manifest = '{}'")
    capsys.readouterr()
    assert main(["--config", str(config), "audit", "verify", "--format", "json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert result["findings"][0]["table"] == "desired_objects"
    assert result["findings"][0]["row"] == ROW
    assert main(["--config", str(config), "audit", "verify"]) == 1
    assert f"ledger_mismatch at desired_objects row {ROW}" in capsys.readouterr().err
    out = tmp_path / "report.json"
    assert main(["--config", str(config), "report", "--format", "json", "-o", str(out)]) == 1
    integrity = json.loads(out.read_text())["integrity"]
    assert integrity["status"] == "tampered"
    assert any(r.startswith("The provenance ledger") for r in integrity["reasons"])


def test_rows_written_before_vouching_are_pinned_reported_and_still_trusted(
    engine: Engine,
) -> None:
    migrate.upgrade(engine, "0003")
    legacy = [
        "INSERT INTO verified_commits (source, commit_sha, verified_at, signer, key_id, format) "
        f"VALUES ('apps', '{'a' * 40}', '2026-11-01T00:00:00.000000Z', 'bob', 'K', 'ssh')",
        "INSERT INTO desired_objects (source, commit_sha, api_group, kind, namespace, name, "
        "path, digest, manifest, recorded_at) VALUES ('apps', "
        f"'{'a' * 40}', 'apps', 'Deployment', 'team-a', 'web', 'web.yaml', 'sha256:00', "
        "'{}', '2026-11-01T00:00:00.000000Z')",
    ]
    with engine.begin() as connection:
        for statement in legacy:
            connection.execute(text(statement))
    migrate.upgrade(engine)
    store = AuditStore(engine)
    report = verify_store(store, None)
    assert report.ok and report.ledger is not None
    assert (report.ledger.vouched, report.ledger.legacy) == (0, 2)
    assert [r.kind for r in store.query(limit=5).records] == ["ledger.legacy"]
    assert Ledger(store).verified_commit("apps", "a" * 40) is not None
    assert Ledger(store).desired("apps", "a" * 40, KEY) is not None
    # A row slipped in later without a record cannot pass for a legacy one...
    forge(
        engine,
        "INSERT INTO verified_commits (source, commit_sha, verified_at) "
        f"VALUES ('apps', '{'b' * 40}', '2026-11-02T00:00:00.000000Z')",
    )
    assert findings(store) == [("ledger_unvouched", "verified_commits", f"apps@{'b' * 40}")]
    assert Ledger(store).verified_commit("apps", "b" * 40) is None
    # ...and a legacy row changed after the pin is found and no longer trusted.
    forge(engine, "UPDATE desired_objects SET manifest = '{\"x\": 1}'")
    assert ("ledger_legacy_changed", "desired_objects", f"apps@{'a' * 40}") in findings(store)
    assert Ledger(store).desired("apps", "a" * 40, KEY) is None


def test_a_voucher_at_the_lowest_seq_vouches_for_nothing(
    synced: AuditStore, signer: Signer
) -> None:
    """A `ledger.recorded` record slipped in at seq -2**63 (outside the chain), naming an
    invented verified commit: `audit verify` finds the record and the row, and the webhook's
    lookup does not trust the row."""
    forged = "e" * 40
    moment = datetime(2026, 11, 1, tzinfo=UTC)
    row = {
        "source": "apps",
        "commit_sha": forged,
        "verified_at": chain.format_time(moment),
        "signer": "alice",
        "key_id": None,
        "format": None,
    }
    insert_record(
        synced,
        seq=MIN_SEQ,
        kind=rows_.LEDGER_RECORDED,
        actor=rows_.ACTOR,
        subject="source/apps",
        source="apps",
        commit=forged,
        payload=rows_.vouch_payload(rows_.COMMITS, [row]),
        moment=moment,
    )
    with synced.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO verified_commits (source, commit_sha, verified_at, signer, "
                "vouch_seq) VALUES ('apps', :commit, :time, 'alice', :seq)"
            ),
            {"commit": forged, "time": stored_time(synced, moment), "seq": MIN_SEQ},
        )
    report = verify_store(synced, Verifier(signer.public_key))
    assert {(f.problem, f.row) for f in report.findings} == {
        ("unexpected_record", None),
        ("ledger_unvouched", f"apps@{forged}"),
    }
    assert report.ledger is not None and report.ledger.vouched == 1
    assert Ledger(synced).verified_commit("apps", forged) is None
    assert Ledger(synced).verified_commit("apps", "a" * 40) is not None


def test_a_legacy_pin_below_the_chain_pins_nothing(synced: AuditStore) -> None:
    """A `ledger.legacy` record outside the chain is not the migration's pin: a row without
    a voucher that it "pins" is still not trusted."""
    forged = "f" * 40
    moment = datetime(2026, 11, 1, tzinfo=UTC)
    row = {
        "source": "apps",
        "commit_sha": forged,
        "verified_at": chain.format_time(moment),
        "signer": "alice",
        "key_id": None,
        "format": None,
    }
    payload = rows_.legacy_payload(
        {(rows_.COMMITS, "apps", forged): [rows_.row_digest(rows_.COMMITS, row)]}
    )
    insert_record(
        synced,
        seq=-1,
        kind=rows_.LEDGER_LEGACY,
        actor=rows_.ACTOR,
        subject="ledger",
        payload=payload,
        moment=moment,
    )
    with synced.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO verified_commits (source, commit_sha, verified_at, signer) "
                "VALUES ('apps', :commit, :time, 'alice')"
            ),
            {"commit": forged, "time": stored_time(synced, moment)},
        )
    report = verify_store(synced, None)
    assert ("ledger_unvouched", f"apps@{forged}") in {(f.problem, f.row) for f in report.findings}
    assert Ledger(synced).verified_commit("apps", forged) is None
