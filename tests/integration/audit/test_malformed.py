"""Rows no store ever writes, put in with raw SQL: verification names the record (or says in
one line what is wrong), and never stops with a traceback."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import text

from gatekeeper.audit import chain, migrate
from gatekeeper.audit.errors import (
    AuditError,
    CorruptCheckpoint,
    CorruptRecord,
    SchemaDamaged,
    SchemaMissing,
    StoreUnavailable,
)
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.freshness import Freshness
from gatekeeper.audit.ledger import Ledger
from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.verify import verify_store
from gatekeeper.cli import main
from tests.integration.audit.row_support import public_config
from tests.integration.audit.test_tamper import tamper

pytestmark = pytest.mark.integration


@pytest.fixture
def filled(store: AuditStore, signer: Signer) -> AuditStore:
    """Six records under a checkpoint."""
    for i in range(1, 7):
        store.append(NewEvent(kind="sync.applied", actor="reconciler", payload={"i": i}))
    store.checkpoint(signer)
    return store


def forge(store: AuditStore, payload_json: str, *, time_text: str | None = None) -> int:
    """Append a row with a correctly recomputed hash over exactly the stored text."""
    seq, prev = store.head()
    seq += 1
    moment = datetime.now(UTC)
    time_text = time_text or chain.format_time(moment)
    digest = chain.record_hash(
        seq=seq,
        time=time_text,
        kind="sync.applied",
        actor="mallory",
        subject="",
        source=None,
        commit=None,
        payload_json=payload_json,
        prev_hash=prev,
    )
    stored: object = moment if store.engine.dialect.name == "postgresql" else time_text
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_events (seq, time, kind, actor, subject, payload, prev_hash, "
                "hash) VALUES (:seq, :time, 'sync.applied', 'mallory', '', :payload, :prev, "
                ":hash)"
            ),
            {
                "seq": seq,
                "time": stored,
                "payload": payload_json,
                "prev": prev,
                "hash": digest,
            },
        )
    return seq


def _only(store: AuditStore, signer: Signer, **options: object) -> tuple[str, int, str]:
    report = verify_store(store, Verifier(signer.public_key), **options)  # type: ignore[arg-type]
    assert not report.ok
    first = report.findings[0]
    return first.problem, first.seq, first.detail


@pytest.mark.parametrize(
    ("payload", "why"),
    [
        ('{"z":1,"a":[1.0]}', "not in canonical JSON form"),
        ('{"a": 1}', "not in canonical JSON form"),
        ("[1,2]", "a JSON list, not an object"),
        ('"just a string"', "a JSON str, not an object"),
        ('{"n":99999999999999999999}', "no canonical JSON form"),
        ("not json", "not JSON"),
    ],
)
def test_a_payload_that_is_not_the_canonical_json_of_an_object_is_named(
    filled: AuditStore, signer: Signer, payload: str, why: str
) -> None:
    seq = forge(filled, payload)
    assert seq == 7
    problem, at, detail = _only(filled, signer)
    assert (problem, at) == ("malformed_record", 7)
    assert why in detail


def test_a_time_that_is_not_canonical_is_named(filled: AuditStore, signer: Signer) -> None:
    if filled.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL stores a timestamp, written out canonically by the database")
    forge(filled, '{"i":7}', time_text="2026-12-02T15:57:36Z")
    assert _only(filled, signer)[:2] == ("malformed_record", 7)


def test_an_uncovered_record_that_is_not_json_is_named_by_the_freshness_check_too(
    filled: AuditStore, signer: Signer
) -> None:
    forge(filled, "not json")
    verifier = Verifier(signer.public_key, freshness=Freshness(max_age=60, max_uncovered=1))
    report = verify_store(filled, verifier)
    assert report.first_bad_seq == 7
    assert report.findings[0].problem == "malformed_record"


def test_a_record_that_cannot_be_read_back_is_refused_by_the_store_naming_it(
    filled: AuditStore,
) -> None:
    forge(filled, "[1,2]")
    with pytest.raises(CorruptRecord, match="record 7 is damaged") as caught:
        filled.get(7)
    assert caught.value.seq == 7
    with pytest.raises(CorruptRecord):
        filled.query(limit=10)


def _sqlite_only(store: AuditStore) -> None:
    if store.engine.dialect.name != "sqlite":
        pytest.skip("PostgreSQL's column types refuse such a value")


@pytest.mark.parametrize("workers", [1, 2])
@pytest.mark.parametrize("seq", ["'x'", "1e20", "CAST('7' AS BLOB)"])
def test_a_sequence_number_that_is_not_an_integer_is_a_finding(
    filled: AuditStore, signer: Signer, seq: str, workers: int
) -> None:
    _sqlite_only(filled)
    tamper(
        filled,
        "INSERT INTO audit_events (seq, time, kind, actor, subject, payload, prev_hash, hash) "
        f"SELECT {seq}, time, kind, actor, subject, payload, hash, hash FROM audit_events "
        "WHERE seq = 6",
    )
    problem, at, detail = _only(filled, signer, workers=workers, parallel_threshold=1)
    assert (problem, at) == ("malformed_record", 7)
    assert "is not an integer follows record 6" in detail
    with pytest.raises(CorruptRecord):
        filled.head()


def test_an_actor_that_is_not_text_is_named(filled: AuditStore, signer: Signer) -> None:
    _sqlite_only(filled)
    tamper(filled, "UPDATE audit_events SET actor = CAST('alice' AS BLOB) WHERE seq = 3")
    problem, at, detail = _only(filled, signer)
    assert (problem, at) == ("malformed_record", 3)
    assert "actor is a bytes" in detail


@pytest.mark.parametrize(
    ("column", "value", "why"), [("time", "'garbage'", "time"), ("seq", "'abc'", "seq")]
)
def test_a_damaged_checkpoint_is_a_finding_naming_it(
    filled: AuditStore, signer: Signer, column: str, value: str, why: str
) -> None:
    _sqlite_only(filled)
    tamper(filled, f"UPDATE audit_checkpoints SET {column} = {value} WHERE id = 1")
    report = verify_store(filled, Verifier(signer.public_key))
    damaged = [f for f in report.findings if f.problem == "malformed_checkpoint"]
    assert len(damaged) == 1
    assert (damaged[0].table, damaged[0].row) == ("audit_checkpoints", "1")
    assert f"its {why}" in damaged[0].detail
    with pytest.raises(CorruptCheckpoint):
        filled.checkpoints()


def test_a_renamed_column_is_an_error_of_the_audit_tree_not_the_drivers(
    filled: AuditStore,
) -> None:
    with filled.engine.begin() as connection:
        connection.execute(text("ALTER TABLE audit_events RENAME COLUMN actor TO who"))
    with pytest.raises(AuditError, match="actor"):
        list(filled.iter_raw())
    with pytest.raises(SchemaDamaged, match="audit_events has no column actor"):
        migrate.require_current(filled.engine)


def test_a_dropped_checkpoint_table_is_damage_not_setup_advice(filled: AuditStore) -> None:
    with filled.engine.begin() as connection:
        connection.execute(text("DROP TABLE audit_checkpoints"))
    with pytest.raises(SchemaDamaged, match="audit_checkpoints is missing") as caught:
        migrate.require_current(filled.engine)
    assert "db upgrade" not in str(caught.value)


def test_a_schema_newer_than_the_release_says_so(filled: AuditStore) -> None:
    with filled.engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0099'"))
    with pytest.raises(SchemaMissing, match="newer than this release") as caught:
        migrate.require_current(filled.engine)
    assert "db upgrade" not in str(caught.value)


def test_a_corrupted_sqlite_file_is_a_one_line_store_error(
    store: AuditStore, signer: Signer, tmp_path: Path
) -> None:
    _sqlite_only(store)
    store.append_many(
        [NewEvent(kind="sync.applied", actor="a", payload={"i": i}) for i in range(3000)]
    )
    store.close()
    path = Path(str(store.engine.url.database))
    with path.open("r+b") as file:
        file.seek(4096 * 100)
        file.write(b"\xff" * 4096 * 20)
    damaged = AuditStore(store.engine)
    with pytest.raises(StoreUnavailable, match="malformed"):
        verify_store(damaged, Verifier(signer.public_key))


def test_audit_verify_names_the_row_in_its_output_and_exits_one(
    filled: AuditStore, signer: Signer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _sqlite_only(filled)
    from cryptography.hazmat.primitives import serialization

    from gatekeeper.cli import main

    public = tmp_path / "audit.pub"
    public.write_bytes(
        signer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    config = tmp_path / "gatekeeper.yaml"
    config.write_text(
        json.dumps(
            {"database": {"url": str(filled.engine.url)}, "audit": {"publicKeyFile": str(public)}}
        )
    )
    tamper(
        filled,
        "INSERT INTO audit_events (seq, time, kind, actor, subject, payload, prev_hash, hash) "
        "SELECT 'x', time, kind, actor, subject, payload, hash, hash FROM audit_events "
        "WHERE seq = 6",
    )
    assert main(["--config", str(config), "audit", "verify"]) == 1
    out, err = capsys.readouterr()
    assert "malformed_record at 7" in out
    assert "first bad record 7" in err
    assert "Traceback" not in out + err


def test_a_ledger_voucher_payload_that_is_not_json_is_named_by_audit_verify(
    synced: AuditStore, signer: Signer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The `ledger.recorded` record at 1 no longer holds JSON: the walk names it, and the
    ledger check takes it as vouching for nothing, instead of failing to parse it."""
    config = public_config(tmp_path, synced, signer)
    tamper(synced, "UPDATE audit_events SET payload = 'not json' WHERE seq = 1")
    assert main(["--config", str(config), "audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert "first bad record 1" in err
    assert Ledger(synced).verified_commit("apps", "a" * 40) is None


def test_a_ledger_voucher_holding_a_json_array_vouches_for_nothing(
    synced: AuditStore, signer: Signer
) -> None:
    """Even with its hash recomputed, a voucher whose payload is not a JSON object."""
    tamper(synced, "UPDATE audit_events SET payload = '[1]' WHERE seq = 1")
    report = verify_store(synced, Verifier(signer.public_key))
    assert report.first_bad_seq == 1
    assert ("ledger_unvouched", f"apps@{'a' * 40}") in {(f.problem, f.row) for f in report.findings}
    assert Ledger(synced).verified_commit("apps", "a" * 40) is None


def test_a_record_that_is_not_valid_utf8_is_named_by_audit_verify(
    synced: AuditStore, signer: Signer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """SQLite: the driver refuses to read text that is not UTF-8; verification reads it as
    bytes and names the record (exit 1), instead of calling the store unavailable."""
    if synced.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL refuses invalid UTF-8")
    config = public_config(tmp_path, synced, signer)
    tamper(synced, "UPDATE audit_events SET actor = CAST(X'C3' AS TEXT) WHERE seq = 3")
    assert main(["--config", str(config), "audit", "verify"]) == 1
    err = " ".join(capsys.readouterr().err.split())
    assert "first bad record 3" in err, err
    report = verify_store(synced, Verifier(signer.public_key), workers=2, parallel_threshold=1)
    assert [(f.problem, f.seq) for f in report.findings] == [("malformed_record", 3)]


def test_a_time_stored_as_a_blob_is_named(synced: AuditStore, signer: Signer) -> None:
    if synced.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL's timestamptz refuses a blob")
    tamper(synced, "UPDATE audit_events SET time = X'00' WHERE seq = 3")
    report = verify_store(synced, Verifier(signer.public_key))
    assert [(f.problem, f.seq) for f in report.findings] == [("malformed_record", 3)]
    assert "its time b'\\x00'" in report.findings[0].detail


def test_a_ledger_row_with_a_blob_time_is_named_not_trusted(
    synced: AuditStore, signer: Signer
) -> None:
    if synced.engine.dialect.name == "postgresql":
        pytest.skip("PostgreSQL's timestamptz refuses a blob")
    with synced.engine.begin() as connection:
        connection.execute(text("DROP TRIGGER verified_commits_no_update"))
        connection.execute(text("UPDATE verified_commits SET verified_at = X'00'"))
    report = verify_store(synced, Verifier(signer.public_key))
    assert [f.problem for f in report.findings] == ["ledger_mismatch"]
    assert Ledger(synced).verified_commit("apps", "a" * 40) is None
