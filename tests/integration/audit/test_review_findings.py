"""Reproductions of defects found in a review of the audit store, from the point of view of
someone with write access to the database (or to a bundle file) and of an auditor.

Each test states what the contract (DESIGN sections 8 and 12, docs/audit.md) requires and
is expected to fail until its defect is fixed; fixed ones move to the tests of their part.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from gatekeeper.audit import chain
from gatekeeper.audit.batching import BatchedAppender
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.ledger import Ledger
from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.verify import verify_store

pytestmark = pytest.mark.integration

MIN_SEQ = -(2**63)  # the lowest BIGINT / SQLite INTEGER
FORGED_COMMIT = "e" * 40


# -- helpers ---------------------------------------------------------------------------------


def _pg(store: AuditStore) -> bool:
    return store.engine.dialect.name == "postgresql"


def _stored_time(store: AuditStore, moment: datetime) -> object:
    return moment if _pg(store) else chain.format_time(moment)


def _insert_record(
    store: AuditStore,
    *,
    seq: int,
    kind: str,
    actor: str,
    subject: str,
    payload: dict[str, object],
    source: str | None = None,
    commit: str | None = None,
    prev_hash: str = "0" * 64,
    moment: datetime = datetime(2026, 11, 1, tzinfo=UTC),
) -> None:
    """A well-formed record, hash recomputed, put in with a plain INSERT (which the
    append-only triggers allow)."""
    payload_json = chain.canonical_payload(payload)
    digest = chain.record_hash(
        seq=seq,
        time=chain.format_time(moment),
        kind=kind,
        actor=actor,
        subject=subject,
        source=source,
        commit=commit,
        payload_json=payload_json,
        prev_hash=prev_hash,
    )
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO audit_events (seq, time, kind, actor, subject, source, commit_sha, "
                "payload, prev_hash, hash) VALUES (:seq, :time, :kind, :actor, :subject, "
                ":source, :commit, :payload, :prev, :hash)"
            ),
            {
                "seq": seq,
                "time": _stored_time(store, moment),
                "kind": kind,
                "actor": actor,
                "subject": subject,
                "source": source,
                "commit": commit,
                "payload": payload_json,
                "prev": prev_hash,
                "hash": digest,
            },
        )


def _public_config(tmp_path: Path, store: AuditStore, signer: Signer) -> Path:
    public = tmp_path / "audit.pub"
    public.write_bytes(
        signer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    config = tmp_path / "gatekeeper.yaml"
    url = store.engine.url.render_as_string(hide_password=False)
    config.write_text(
        json.dumps({"database": {"url": url}, "audit": {"publicKeyFile": str(public)}})
    )
    return config


@pytest.fixture
def synced(store: AuditStore, signer: Signer) -> AuditStore:
    """A genuine vouched ledger row, five sync records, all under a checkpoint."""
    Ledger(store).record_commit("apps", "a" * 40, signer="alice")
    for i in range(5):
        store.append(
            NewEvent(
                kind="sync.applied",
                actor="reconciler",
                subject="source/apps",
                source="apps",
                payload={"i": i},
            )
        )
    store.checkpoint(signer)
    assert verify_store(store, Verifier(signer.public_key)).ok
    return store


# -- 7. checkpoints and appends ----------------------------------------------------------------


@pytest.mark.xfail(strict=True, reason="not fixed yet")
def test_review_postgres_one_event_with_a_nul_fails_every_event_of_its_batch(
    store: AuditStore,
) -> None:
    """`prepare` checks lengths but not NUL characters, which PostgreSQL text refuses: one
    event whose actor (an admission request's user name) holds "\\x00" fails the whole batch,
    so the neighbouring decisions are not recorded either (and the error reads as
    "store unavailable")."""
    if not _pg(store):
        pytest.skip("SQLite stores NUL characters")
    with BatchedAppender(store, max_delay=0.05) as appender:
        good = [
            appender.submit(NewEvent(kind="admission.allowed", actor=f"user{i}", payload={}))
            for i in range(3)
        ]
        bad = appender.submit(NewEvent(kind="admission.allowed", actor="evil\x00", payload={}))
        good += [
            appender.submit(NewEvent(kind="admission.allowed", actor=f"user{i}", payload={}))
            for i in range(3, 6)
        ]
        for future in [*good, bad]:
            future.exception()
    assert [future.exception() for future in good] == [None] * 6
