"""The folder witness on both engines: what `audit verify --witness` catches that the database's
own checkpoints cannot, and a witness that fails without costing a checkpoint."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.audit.checkpoints import CheckpointScheduler, scheduler_from_settings
from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.verify import verify_store
from gatekeeper.audit.witness import FolderWitness, entry_name, entry_text
from gatekeeper.cli import main
from gatekeeper.settings import load_settings
from tests.integration.audit.witness_support import (
    append,
    delete_checkpoints,
    execute,
    fill,
    rewrite,
    truncate,
    write_config,
)

pytestmark = pytest.mark.integration


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return tmp_path / "witness"


@pytest.fixture
def filled(store: AuditStore, signer: Signer, folder: Path) -> AuditStore:
    fill(store, signer, FolderWitness(folder))
    return store


@pytest.fixture
def config(tmp_path: Path, filled: AuditStore, signer: Signer, folder: Path) -> Path:
    return write_config(tmp_path, filled, signer, audit={"witness": {"folder": str(folder)}})


def findings(store: AuditStore, signer: Signer, folder: Path | None, **options: int) -> list[str]:
    witness = None if folder is None else FolderWitness(folder).read()
    report = verify_store(store, Verifier(signer.public_key), witness=witness, **options)
    return [f"{finding.problem}@{finding.seq}" for finding in report.findings]


def verify(config: Path, *extra: str) -> int:
    return main(["--config", str(config), "audit", "verify", *extra])


def test_the_scheduler_writes_every_checkpoint_it_signs_to_the_witness(
    filled: AuditStore, folder: Path
) -> None:
    stored = filled.checkpoints()
    assert [(c.id, c.seq) for c in stored] == [(1, 6), (2, 10)]
    assert sorted(p.name for p in folder.iterdir()) == [entry_name(c) for c in stored]
    assert FolderWitness(folder).read().checkpoints == tuple(stored)


def test_an_untouched_log_verifies_and_records_after_the_witness_are_not_covered(
    filled: AuditStore, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    append(filled, 2)
    assert verify(config, "--witness", str(config.parent / "witness")) == 0
    out = capsys.readouterr().out
    assert "not covered by the witness: record(s) 11..12" in out
    assert "ok: chain, checkpoints and witness verify up to record 10; records 11..12 are" in out
    assert verify(config, "--witness", str(config.parent / "witness"), "--format", "json") == 0
    witness = json.loads(capsys.readouterr().out)["witness"]
    assert witness["last_seq"] == 10
    assert witness["not_covered"] == {"first": 11, "last": 12, "records": 2}


def test_deleted_checkpoints_and_the_records_after_rewritten_are_caught_only_by_the_witness(
    filled: AuditStore,
    signer: Signer,
    folder: Path,
    config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    delete_checkpoints(filled, from_id=2)
    rewrite(filled, at=8)

    assert findings(filled, signer, None) == []
    assert verify(config) == 0
    assert findings(filled, signer, folder) == ["witness_missing@10", "witness_chain_mismatch@10"]
    capsys.readouterr()
    assert verify(config, "--witness", str(folder)) == 1
    captured = capsys.readouterr()
    assert "witnessed checkpoint 2 (record 10" in captured.out
    assert "first bad record 10" in captured.err


def test_a_chain_rewritten_and_signed_again_with_the_real_key_is_caught_only_by_the_witness(
    filled: AuditStore, signer: Signer, folder: Path, config: Path
) -> None:
    rewrite(filled, at=2)
    delete_checkpoints(filled, from_id=1)
    filled.checkpoint(signer)

    assert findings(filled, signer, None) == []
    assert verify(config) == 0
    expected = [
        "witness_differs@6",
        "witness_chain_mismatch@6",
        "witness_missing@10",
        "witness_chain_mismatch@10",
    ]
    assert findings(filled, signer, folder) == expected
    assert findings(filled, signer, folder, workers=2, parallel_threshold=1) == expected
    assert verify(config, "--witness", str(folder)) == 1


def test_a_log_truncated_below_a_witnessed_checkpoint_is_caught_only_by_the_witness(
    filled: AuditStore,
    signer: Signer,
    folder: Path,
    config: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    delete_checkpoints(filled, from_id=2)
    truncate(filled, after=7)

    assert findings(filled, signer, None) == []
    assert findings(filled, signer, folder) == ["truncated@8", "witness_missing@10"]
    capsys.readouterr()
    assert verify(config, "--witness", str(folder), "--format", "json") == 1
    report = json.loads(capsys.readouterr().out)
    assert report["first_bad_seq"] == 8
    truncated = next(f for f in report["findings"] if f["problem"] == "truncated")
    assert truncated["detail"] == "witnessed checkpoint 2 covers 10 records, the log ends at 7"


def test_a_witnessed_checkpoint_missing_from_the_database_is_named(
    filled: AuditStore, signer: Signer, folder: Path
) -> None:
    execute(filled, "DELETE FROM audit_checkpoints WHERE id = 1")
    # The database alone shows a gap in the numbering (checkpoint 2 of 1 left)...
    assert findings(filled, signer, None) == ["malformed_checkpoint@10"]
    # ...and the witness which checkpoint it was.
    assert findings(filled, signer, folder) == ["witness_missing@6", "malformed_checkpoint@10"]


def test_a_checkpoint_signed_again_over_a_rewritten_head_is_refused_by_the_witness(
    filled: AuditStore, signer: Signer, folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The forger removes checkpoint 2, rewrites records 8-10 and lets the service sign the new
    # head: the database gives the new checkpoint the same id at the same record.
    delete_checkpoints(filled, from_id=2)
    rewrite(filled, at=8)
    scheduler = CheckpointScheduler(filled, signer, interval=60, witness=FolderWitness(folder))
    with caplog.at_level(logging.ERROR, logger="gatekeeper.audit.checkpoints"):
        made = scheduler.tick(force=True)

    assert made is not None and (made.id, made.seq) == (2, 10)
    assert [c.id for c in filled.checkpoints()] == [1, 2]
    assert scheduler.witness_failures == 1 and scheduler.unwitnessed is None
    assert "already holds a different checkpoint 2" in caplog.text
    assert findings(filled, signer, None) == []
    assert findings(filled, signer, folder) == ["witness_differs@10", "witness_chain_mismatch@10"]


def test_the_checkpoint_command_exits_one_when_the_witness_holds_another_checkpoint(
    filled: AuditStore, folder: Path, config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    delete_checkpoints(filled, from_id=2)
    rewrite(filled, at=9)
    capsys.readouterr()
    assert main(["--config", str(config), "audit", "checkpoint"]) == 1
    assert "checkpoint 2 is in the database but not in the witness" in capsys.readouterr().err
    assert [(c.id, c.seq) for c in filled.checkpoints()] == [(1, 6), (2, 10)]


def test_a_witness_that_cannot_be_written_costs_no_checkpoint_and_catches_up(
    store: AuditStore, signer: Signer, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "witness"
    blocker.write_text("a file where the folder should be")
    scheduler = CheckpointScheduler(
        store, signer, interval=60, witness=FolderWitness(blocker / "checkpoints")
    )
    append(store, 3)
    with caplog.at_level(logging.WARNING, logger="gatekeeper.audit.checkpoints"):
        made = scheduler.tick()
    assert made is not None and store.checkpoints() == [made]
    assert scheduler.witness_failures == 1 and scheduler.unwitnessed == made
    assert "is in the database but not yet in the witness" in caplog.text

    blocker.unlink()
    # The log has not grown: nothing new to sign, but the one the witness missed is written.
    assert scheduler.tick() is None
    assert scheduler.unwitnessed is None and scheduler.witness_failures == 1
    assert FolderWitness(blocker / "checkpoints").read().checkpoints == (made,)


def test_a_failing_witness_does_not_stop_the_scheduler(
    store: AuditStore, signer: Signer, tmp_path: Path
) -> None:
    import time

    blocker = tmp_path / "witness"
    blocker.write_text("")
    scheduler = CheckpointScheduler(
        store, signer, interval=0.05, witness=FolderWitness(blocker / "checkpoints")
    )
    scheduler.start()
    try:
        append(store, 1)
        deadline = time.monotonic() + 10
        while scheduler.witness_failures < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        append(store, 1)
        while len(store.checkpoints()) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        scheduler.stop()
    assert scheduler.witness_failures >= 3
    assert [c.seq for c in store.checkpoints()][:2] == [1, 2]


def test_services_witness_their_checkpoints_as_configured(
    store: AuditStore, signer: Signer, tmp_path: Path
) -> None:
    config = write_config(tmp_path, store, signer, audit={"witness": {"folder": "witness"}})
    scheduler = scheduler_from_settings(store, load_settings(config))
    assert scheduler is not None
    append(store, 4)
    scheduler.stop()
    (last,) = store.checkpoints()
    assert FolderWitness(tmp_path / "witness").read().checkpoints == (last,)


def test_the_checkpoint_command_writes_the_witness_or_says_it_could_not(
    store: AuditStore, signer: Signer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, store, signer, audit={"witness": {"folder": "witness"}})
    append(store, 2)
    assert main(["--config", str(config), "audit", "checkpoint"]) == 0
    assert f"witnessed in {tmp_path / 'witness'}" in capsys.readouterr().out
    (made,) = store.checkpoints()
    assert FolderWitness(tmp_path / "witness").read().checkpoints == (made,)

    blocked = write_config(tmp_path, store, signer, audit={"witness": {"folder": "file/witness"}})
    (tmp_path / "file").write_text("")
    append(store, 1)
    assert main(["--config", str(blocked), "audit", "checkpoint"]) == 3
    assert "checkpoint 2 is in the database but not in the witness" in capsys.readouterr().err
    assert [c.seq for c in store.checkpoints()] == [2, 3]


def test_a_witness_entry_signed_by_another_key_is_reported(
    filled: AuditStore, signer: Signer, folder: Path, config: Path
) -> None:
    forger = Signer(Ed25519PrivateKey.generate())
    forged = filled.checkpoint(forger)
    (folder / entry_name(forged)).write_text(entry_text(forged))
    assert "witness_unknown_key@10" in findings(filled, signer, folder)
    assert verify(config, "--witness", str(folder)) == 1


def test_an_empty_witness_or_one_that_is_not_there_is_a_usage_error(
    filled: AuditStore, config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "empty").mkdir()
    assert verify(config, "--witness", str(tmp_path / "empty")) == 2
    assert "holds no checkpoint" in capsys.readouterr().err
    assert verify(config, "--witness", str(tmp_path / "nowhere")) == 2
    assert verify(config, "--witness", str(tmp_path / "x"), "--bundle", "b.zip") == 2
