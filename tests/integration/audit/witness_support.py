"""What the witness tests share: a log with witnessed checkpoints, a configuration, and the
edits an owner of the database can make once the append-only triggers are dropped."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from sqlalchemy import Connection, text

from gatekeeper.audit import chain
from gatekeeper.audit.checkpoints import CheckpointScheduler
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.signing import Signer
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.witness import Witness


def append(store: AuditStore, count: int) -> None:
    first, _ = store.head()
    store.append_many(
        [
            NewEvent(
                kind="sync.applied",
                actor="reconciler",
                subject=f"obj-{first + i}",
                payload={"i": first + i},
            )
            for i in range(1, count + 1)
        ]
    )


def fill(store: AuditStore, signer: Signer, witness: Witness) -> CheckpointScheduler:
    """Ten records, and checkpoints at 6 and 10 signed by a scheduler that witnesses them."""
    scheduler = CheckpointScheduler(store, signer, interval=60, witness=witness)
    append(store, 6)
    scheduler.tick(force=True)
    append(store, 4)
    scheduler.tick(force=True)
    return scheduler


def write_config(folder: Path, store: AuditStore, signer: Signer, **extra: Any) -> Path:
    """A configuration with the store, both halves of the key, and `extra` sections merged."""
    private = folder / "audit-ed25519.pem"
    private.write_bytes(
        signer.private_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    public = folder / "audit-ed25519.pub"
    public.write_bytes(
        signer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    document: dict[str, Any] = {
        "database": {"url": store.engine.url.render_as_string(hide_password=False)},
        "audit": {"signingKeyFile": str(private), "publicKeyFile": str(public)},
    }
    for section, values in extra.items():
        document.setdefault(section, {}).update(values)
    path = folder / "gatekeeper.yaml"
    path.write_text(json.dumps(document))
    return path


def drop_triggers(connection: Connection) -> None:
    """What an owner of the database does first: the append-only triggers go."""
    for table in ("audit_events", "audit_checkpoints"):
        if connection.dialect.name == "postgresql":
            for trigger in ("append_only", "no_truncate"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_{trigger} ON {table}"))
        else:
            for action in ("update", "delete"):
                connection.execute(text(f"DROP TRIGGER IF EXISTS {table}_no_{action}"))


def execute(store: AuditStore, statement: str, **params: object) -> None:
    with store.engine.begin() as connection:
        drop_triggers(connection)
        connection.execute(text(statement), params)


def delete_checkpoints(store: AuditStore, *, from_id: int) -> None:
    execute(store, "DELETE FROM audit_checkpoints WHERE id >= :i", i=from_id)


def truncate(store: AuditStore, *, after: int) -> None:
    execute(store, "DELETE FROM audit_events WHERE seq > :s", s=after)


def rewrite(store: AuditStore, *, at: int) -> None:
    """Give record `at` another actor and re-chain every record after it: every hash and
    link is right again, so only a checkpoint that still remembers the old hashes can tell."""
    rows = list(store.iter_raw())
    prev = rows[at - 2][9] if at > 1 else "0" * 64
    updates = []
    for row in rows[at - 1 :]:
        seq, time, kind, actor, subject, source, commit, payload, _, _ = row
        if seq == at:
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
        updates.append({"a": actor, "p": prev, "h": digest, "s": seq})
        prev = digest
    with store.engine.begin() as connection:
        drop_triggers(connection)
        for update in updates:
            connection.execute(
                text(
                    "UPDATE audit_events SET actor = :a, prev_hash = :p, hash = :h WHERE seq = :s"
                ),
                update,
            )
