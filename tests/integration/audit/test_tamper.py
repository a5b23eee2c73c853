"""Tampering as a database owner could do it: triggers dropped, rows edited with raw SQL."""

from __future__ import annotations

from pathlib import Path
from unittest.mock import patch

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Connection, text

from gatekeeper.audit import chain
from gatekeeper.audit.checkpoints import CheckpointScheduler
from gatekeeper.audit.errors import AuditError
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.verify import verify_store
from gatekeeper.cli import main
from tests.integration.audit.row_support import MIN_SEQ, insert_record

pytestmark = pytest.mark.integration


@pytest.fixture
def filled(store: AuditStore, signer: Signer) -> AuditStore:
    """Ten records with a checkpoint at 6 and one at 10."""
    for i in range(1, 11):
        store.append(
            NewEvent(kind="sync.applied", actor="reconciler", subject=f"obj-{i}", payload={"i": i})
        )
        if i in (6, 10):
            store.checkpoint(signer)
    return store


def drop_triggers(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        for table in ("audit_events", "audit_checkpoints"):
            connection.execute(text(f"DROP TRIGGER {table}_append_only ON {table}"))
            connection.execute(text(f"DROP TRIGGER {table}_no_truncate ON {table}"))
    else:
        for table in ("audit_events", "audit_checkpoints"):
            for action in ("update", "delete"):
                connection.execute(text(f"DROP TRIGGER {table}_no_{action}"))


def tamper(store: AuditStore, *statements: str, **params: object) -> None:
    with store.engine.begin() as connection:
        drop_triggers(connection)
        for statement in statements:
            connection.execute(text(statement), params)


def test_an_untouched_log_verifies(filled: AuditStore, signer: Signer) -> None:
    report = verify_store(filled, Verifier(signer.public_key))
    assert report.ok
    assert (report.records, report.checkpoints, report.last_checkpoint_seq) == (10, 2, 10)


def test_a_changed_payload_is_named(filled: AuditStore, signer: Signer) -> None:
    tamper(filled, "UPDATE audit_events SET payload = :p WHERE seq = 4", p='{"i":99}')
    report = verify_store(filled, Verifier(signer.public_key))
    assert report.first_bad_seq == 4
    assert report.findings[0].problem == "hash_mismatch"


def test_a_deleted_record_is_named(filled: AuditStore, signer: Signer) -> None:
    tamper(filled, "DELETE FROM audit_events WHERE seq = 5")
    report = verify_store(filled, Verifier(signer.public_key))
    assert report.first_bad_seq == 5
    assert report.findings[0].problem == "missing_record"


def test_reordered_records_are_named(filled: AuditStore, signer: Signer) -> None:
    tamper(
        filled,
        "UPDATE audit_events SET seq = 1000 WHERE seq = 3",
        "UPDATE audit_events SET seq = 3 WHERE seq = 4",
        "UPDATE audit_events SET seq = 4 WHERE seq = 1000",
    )
    report = verify_store(filled, Verifier(signer.public_key))
    assert report.first_bad_seq == 3
    assert {f.problem for f in report.findings} >= {"broken_link", "hash_mismatch"}


def test_an_inserted_record_is_named_even_with_a_recomputed_hash(
    filled: AuditStore, signer: Signer
) -> None:
    # The forger shifts records 7.. up by one and slips a well-formed record in at 7.
    previous = filled.get(6)
    assert previous is not None
    time_text = chain.format_time(previous.time)
    payload = chain.canonical_payload({"forged": True})
    forged_hash = chain.record_hash(
        seq=7,
        time=time_text,
        kind="sync.applied",
        actor="mallory",
        subject="x",
        source=None,
        commit=None,
        payload_json=payload,
        prev_hash=previous.hash,
    )
    tamper(
        filled,
        "UPDATE audit_events SET seq = seq + 1000 WHERE seq >= 7",
        "UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1000",
        "INSERT INTO audit_events (seq, time, kind, actor, subject, source, commit_sha, payload,"
        " prev_hash, hash) VALUES (7, :time, 'sync.applied', 'mallory', 'x', NULL, NULL,"
        " :payload, :prev, :hash)",
        time=previous.time if filled.engine.dialect.name == "postgresql" else time_text,
        payload=payload,
        prev=previous.hash,
        hash=forged_hash,
    )
    report = verify_store(filled, Verifier(signer.public_key))
    assert report.first_bad_seq == 8
    assert report.findings[0].problem in ("broken_link", "hash_mismatch")


def test_a_truncated_tail_is_named(filled: AuditStore, signer: Signer) -> None:
    tamper(filled, "DELETE FROM audit_events WHERE seq > 7")
    report = verify_store(filled, Verifier(signer.public_key))
    assert report.first_bad_seq == 8
    assert report.findings[0].problem == "truncated"


def test_a_rewritten_chain_is_caught_by_its_checkpoint(filled: AuditStore, signer: Signer) -> None:
    # The forger edits record 2 and recomputes every later hash: only checkpoints can tell.
    rows = list(filled.iter_raw())
    prev = rows[0][9]
    updates = []
    for row in rows[1:]:
        seq, time, kind, actor, subject, source, commit, payload, _, _ = row
        if seq == 2:
            actor = "mallory"
        digest = chain.record_hash(
            seq=seq,
            time=time if isinstance(time, str) else chain.format_time(time),
            kind=kind,
            actor=actor,
            subject=subject,
            source=source,
            commit=commit,
            payload_json=payload,
            prev_hash=prev,
        )
        updates.append((seq, actor, prev, digest))
        prev = digest
    with filled.engine.begin() as connection:
        drop_triggers(connection)
        for seq, actor, prev_hash, digest in updates:
            connection.execute(
                text(
                    "UPDATE audit_events SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s"
                ),
                {"a": actor, "p": prev_hash, "h": digest, "s": seq},
            )
    report = verify_store(filled, Verifier(signer.public_key))
    assert not report.ok
    assert [f.problem for f in report.findings] == ["checkpoint_mismatch", "checkpoint_mismatch"]
    assert report.first_bad_seq == 6


def test_a_forged_checkpoint_signature_is_named(filled: AuditStore, signer: Signer) -> None:
    forger = Signer(Ed25519PrivateKey.generate())
    head_seq, _ = filled.head()
    tamper(
        filled,
        "UPDATE audit_checkpoints SET signature = :sig WHERE id = 2",
        sig=forger.sign(b"anything"),
    )
    report = verify_store(filled, Verifier(signer.public_key))
    assert [f.problem for f in report.findings] == ["bad_signature"]
    assert report.first_bad_seq == head_seq


def test_a_checkpoint_signed_by_another_key_is_refused(filled: AuditStore, signer: Signer) -> None:
    forger = Signer(Ed25519PrivateKey.generate())
    filled.checkpoint(forger)
    report = verify_store(filled, Verifier(signer.public_key))
    assert [f.problem for f in report.findings] == ["unknown_key"]


def test_the_cli_exits_one_and_names_the_first_bad_record(
    filled: AuditStore, signer: Signer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from cryptography.hazmat.primitives import serialization

    public = tmp_path / "audit.pub"
    public.write_bytes(
        signer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    url = filled.engine.url.render_as_string(hide_password=False)
    config = tmp_path / "gatekeeper.yaml"
    config.write_text(
        json.dumps({"database": {"url": url}, "audit": {"publicKeyFile": str(public)}})
    )
    assert main(["--config", str(config), "audit", "verify"]) == 0
    tamper(filled, "UPDATE audit_events SET actor = 'mallory' WHERE seq = 3")
    capsys.readouterr()
    assert main(["--config", str(config), "audit", "verify", "--format", "json"]) == 1
    result = json.loads(capsys.readouterr().out)
    assert (result["ok"], result["first_bad_seq"]) == (False, 3)
    assert main(["--config", str(config), "audit", "verify"]) == 1
    err = capsys.readouterr().err
    assert "first bad record 3" in err


@pytest.mark.slow
@pytest.mark.parametrize("edit", [2, 5, 6, 9])
def test_parallel_verification_finds_what_a_single_walk_finds(
    filled: AuditStore, signer: Signer, edit: int
) -> None:
    assert verify_store(filled, Verifier(signer.public_key), workers=2, parallel_threshold=1).ok
    tamper(filled, "UPDATE audit_events SET actor = 'mallory' WHERE seq = :s", s=edit)
    single = verify_store(filled, Verifier(signer.public_key), workers=1)
    parallel = verify_store(filled, Verifier(signer.public_key), workers=2, parallel_threshold=1)
    assert parallel.findings == single.findings
    assert parallel.first_bad_seq == edit


@pytest.mark.slow
def test_parallel_verification_notices_a_record_deleted_at_a_seam(
    filled: AuditStore, signer: Signer
) -> None:
    tamper(filled, "DELETE FROM audit_events WHERE seq = 6")
    report = verify_store(filled, Verifier(signer.public_key), workers=2, parallel_threshold=1)
    assert report.first_bad_seq == 6
    assert report.records == 9


@pytest.mark.parametrize("workers", [1, 2])
def test_a_record_at_the_lowest_seq_is_found_by_audit_verify(
    synced: AuditStore, signer: Signer, workers: int
) -> None:
    """A plain INSERT (no trigger dropped) at seq -2**63, which readers listing by seq show
    first: the walk has no lower bound and names it as outside the chain."""
    insert_record(
        synced,
        seq=MIN_SEQ,
        kind="breakglass",
        actor="mallory",
        subject="apps/Deployment/team-a/web",
        payload={"reason": "approved by the CISO"},
    )
    assert synced.query(limit=1).records[0].seq == MIN_SEQ
    report = verify_store(
        synced, Verifier(signer.public_key), workers=workers, parallel_threshold=1
    )
    assert [(f.problem, f.seq) for f in report.findings] == [("unexpected_record", MIN_SEQ)]
    assert report.first_bad_seq == MIN_SEQ
    assert (report.head_seq, report.records) == (6, 6)


def test_a_record_numbered_zero_is_found_by_audit_verify(
    synced: AuditStore, signer: Signer
) -> None:
    insert_record(synced, seq=0, kind="rollback", actor="mallory", subject="x", payload={})
    report = verify_store(synced, Verifier(signer.public_key))
    assert [(f.problem, f.seq) for f in report.findings] == [("unexpected_record", 0)]


@pytest.mark.parametrize("years", [4051, -8000])
def test_a_time_moved_out_of_the_common_era_range_is_named(
    filled: AuditStore, signer: Signer, years: int
) -> None:
    """PostgreSQL: `2026-11-01 BC` prints as `2026-11-01` under `YYYY`, and a year past 9999
    needs five digits; either way the stored instant is not the hashed one."""
    if filled.engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores the hashed text itself")
    tamper(filled, f"UPDATE audit_events SET time = time - interval '{years} years' WHERE seq = 3")
    report = verify_store(filled, Verifier(signer.public_key))
    assert report.first_bad_seq == 3
    assert "malformed_record" in {f.problem for f in report.findings if f.seq == 3}


def _copy_checkpoint(store: AuditStore, new_id: int) -> None:
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_checkpoints (id, seq, head_hash, time, key_id, signature) "
                "SELECT :id, seq, head_hash, time, key_id, signature "
                "FROM audit_checkpoints WHERE id = 1"
            ),
            {"id": new_id},
        )


def test_a_checkpoint_copied_to_the_highest_id_is_named_and_refused_a_successor(
    filled: AuditStore, signer: Signer
) -> None:
    """A genuine checkpoint copied (plain INSERT) under id 2**63-1: its signature verifies,
    but its id is out of sequence; a new checkpoint cannot be numbered and says why."""
    _copy_checkpoint(filled, 2**63 - 1)
    report = verify_store(filled, Verifier(signer.public_key))
    assert [(f.problem, f.row) for f in report.findings] == [
        ("malformed_checkpoint", str(2**63 - 1)),
        ("malformed_checkpoint", str(2**63 - 1)),
    ]
    assert "numbered outside 1..3" in report.findings[0].detail + report.findings[1].detail
    filled.append(NewEvent(kind="sync.applied", actor="reconciler", payload={}))
    with pytest.raises(AuditError, match="holds the highest id"):
        filled.checkpoint(signer)


def test_a_checkpoint_copied_to_the_next_id_is_named(filled: AuditStore, signer: Signer) -> None:
    _copy_checkpoint(filled, 3)
    report = verify_store(filled, Verifier(signer.public_key))
    assert [(f.problem, f.row) for f in report.findings] == [("malformed_checkpoint", "3")]
    assert "a copy of checkpoint 1" in report.findings[0].detail


def test_the_checkpoint_scheduler_survives_any_failure(
    filled: AuditStore, signer: Signer, caplog: pytest.LogCaptureFixture
) -> None:
    scheduler = CheckpointScheduler(filled, signer, interval=60)
    filled.append(NewEvent(kind="sync.applied", actor="reconciler", payload={}))
    with patch.object(filled, "checkpoint", side_effect=OverflowError("int too large")):
        scheduler._safe_tick(force=True)
    assert "int too large" in caplog.text
    assert scheduler.tick(force=True) is not None


def test_a_report_over_a_record_at_the_lowest_seq_says_the_log_is_not_intact(
    synced: AuditStore, signer: Signer
) -> None:
    """The report finds its first record by the lowest seq: a row at -2**63 must neither
    overflow the bound below it nor pass as part of a verified log."""
    from gatekeeper.report.filters import ReportFilters
    from gatekeeper.report.model import build_report

    insert_record(
        synced,
        seq=MIN_SEQ,
        kind="breakglass",
        actor="mallory",
        subject="apps/Deployment/team-a/web",
        payload={"reason": "approved by the CISO"},
    )
    report = build_report(synced, ReportFilters(), verifier=Verifier(signer.public_key))
    assert report.integrity.status != "verified"
    assert report.integrity.first_bad_seq == MIN_SEQ
