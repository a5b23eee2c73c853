"""The checkpoints' freshness rule on both engines: with checkpoints configured, deleting them
(and re-chaining what they covered) fails `audit verify` and the report, while a healthy
store whose writers sign at their interval passes."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gatekeeper.audit.checkpoints import CheckpointScheduler
from gatekeeper.audit.freshness import Freshness
from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.verify import verify_store
from gatekeeper.cli import main
from tests.integration.audit.witness_support import (
    append,
    delete_checkpoints,
    rewrite,
    write_config,
)

pytestmark = pytest.mark.integration

RULE = Freshness(max_age=180, max_uncovered=1000)


def checked(signer: Signer, rule: Freshness | None = RULE) -> Verifier:
    return Verifier(signer.public_key, freshness=rule)


def problems(store: AuditStore, verifier: Verifier, now: datetime | None = None) -> list[str]:
    return [finding.problem for finding in verify_store(store, verifier, now=now).findings]


def test_a_store_whose_records_are_checkpointed_passes(store: AuditStore, signer: Signer) -> None:
    scheduler = CheckpointScheduler(store, signer, interval=60)
    append(store, 5)
    scheduler.tick()
    append(store, 3)  # written just now: waiting for the next tick is healthy
    assert problems(store, checked(signer)) == []


def test_deleting_every_checkpoint_and_rechaining_a_changed_record_fails(
    store: AuditStore, signer: Signer
) -> None:
    scheduler = CheckpointScheduler(store, signer, interval=60)
    append(store, 6)
    scheduler.tick(force=True)
    append(store, 4)
    scheduler.tick(force=True)
    delete_checkpoints(store, from_id=1)
    rewrite(store, at=3)
    # What the reviewer saw: without the rule the rewritten chain verifies.
    assert problems(store, checked(signer, rule=None)) == []
    report = verify_store(store, checked(signer))
    assert [f.problem for f in report.findings] == ["checkpoint_missing"]
    assert "records 1..10 are covered by no checkpoint" in report.findings[0].detail


def test_records_waiting_longer_than_the_maximum_age_fail(
    migrated_engine: object, signer: Signer
) -> None:
    past = datetime.now(UTC) - timedelta(hours=2)
    old = AuditStore(migrated_engine, clock=lambda: past)  # type: ignore[arg-type]
    append(old, 4)
    old.checkpoint(signer)
    append(old, 2)
    report = verify_store(old, checked(signer))
    assert [f.problem for f in report.findings] == ["checkpoint_stale"]
    assert report.findings[0].seq == 5
    assert "records 5..6 have waited 2 h" in report.findings[0].detail


def test_after_a_quiet_spell_a_new_record_has_not_waited(
    migrated_engine: object, signer: Signer
) -> None:
    past = datetime.now(UTC) - timedelta(days=1)
    old = AuditStore(migrated_engine, clock=lambda: past)  # type: ignore[arg-type]
    append(old, 3)
    old.checkpoint(signer)
    append(AuditStore(migrated_engine), 1)  # type: ignore[arg-type]
    assert problems(old, checked(signer)) == []
    later = datetime.now(UTC) + timedelta(minutes=4)
    assert problems(old, checked(signer), now=later) == ["checkpoint_stale"]


def test_more_uncovered_records_than_allowed_fail(store: AuditStore, signer: Signer) -> None:
    append(store, 2)
    store.checkpoint(signer)
    append(store, 3)
    rule = Freshness(max_age=180, max_uncovered=2)
    assert problems(store, checked(signer, rule)) == ["checkpoint_behind"]


def test_the_scheduler_signs_the_first_checkpoint_at_once(
    store: AuditStore, signer: Signer
) -> None:
    scheduler = CheckpointScheduler(store, signer, interval=3600)
    scheduler.start()
    try:
        append(store, 2)
        deadline = time.monotonic() + 10
        while store.last_checkpoint() is None and time.monotonic() < deadline:
            time.sleep(0.1)
    finally:
        scheduler.stop()
    first = store.checkpoints()[0]
    assert first.seq == 2
    assert problems(store, checked(signer)) == []


def test_the_cli_and_the_report_fail_when_the_checkpoints_are_gone(
    store: AuditStore, signer: Signer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path, store, signer)
    append(store, 6)
    store.checkpoint(signer)
    assert main(["--config", str(config), "audit", "verify"]) == 0
    delete_checkpoints(store, from_id=1)
    rewrite(store, at=2)
    capsys.readouterr()
    assert main(["--config", str(config), "audit", "verify"]) == 1
    captured = capsys.readouterr()
    assert "checkpoint_missing at 1: records 1..6 are covered by no checkpoint" in captured.out
    assert "first bad record 1" in captured.err
    out = tmp_path / "report.json"
    code = main(["--config", str(config), "report", "--format", "json", "-o", str(out)])
    assert code == 1
    integrity = json.loads(out.read_text())["integrity"]
    assert integrity["status"] == "tampered"
    assert any("covered by no checkpoint" in finding for finding in integrity["findings"])
    assert any(r.startswith("Checkpoints are missing or stale") for r in integrity["reasons"])
