"""Rows put into the audit tables behind the store's back, as someone with write access to
the database could: plain INSERTs, which the append-only triggers allow."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from sqlalchemy import text

from gatekeeper.audit import chain
from gatekeeper.audit.signing import Signer
from gatekeeper.audit.store import AuditStore

MIN_SEQ = -(2**63)  # the lowest BIGINT / SQLite INTEGER


def is_postgresql(store: AuditStore) -> bool:
    return store.engine.dialect.name == "postgresql"


def stored_time(store: AuditStore, moment: datetime) -> object:
    """`moment` as the engine's time column takes it."""
    return moment if is_postgresql(store) else chain.format_time(moment)


def insert_record(
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
    """A well-formed record with its hash recomputed, put in with a plain INSERT."""
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
                "time": stored_time(store, moment),
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


def public_config(tmp_path: Path, store: AuditStore, signer: Signer) -> Path:
    """A configuration naming the store's database and the checkpoint public key."""
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
