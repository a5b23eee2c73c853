"""A day of audit history on each engine, its keys, and a configuration that points at both."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.signing import Signer
from gatekeeper.audit.store import AuditStore

START = datetime(2026, 11, 1, tzinfo=UTC)
SUBJECT = "apps/Deployment/team-a/wüb€中→"


def day_of_events() -> list[NewEvent]:
    return [
        NewEvent(
            kind="sync.applied",
            actor="reconciler",
            subject="source/apps",
            source="apps",
            commit="a" * 40,
            payload={"applied": ["apps/Deployment/team-a/web"], "signer": "alice"},
        ),
        NewEvent(
            kind="sync.rejected",
            actor="reconciler",
            subject="source/apps",
            source="apps",
            commit="b" * 40,
            payload={"reasons": ["commit bbbb is unsigned"]},
        ),
        NewEvent(
            kind="admission.denied",
            actor="alice",
            subject="apps/Deployment/team-a/<script>",
            payload={"reasons": ["managed by Git: change apps/web.yaml instead"]},
        ),
        NewEvent(
            kind="breakglass",
            actor="bob",
            subject=SUBJECT,
            payload={
                "reason": "INC-42 outage ü € 中 →",
                "object": {"kind": "Secret", "apiVersion": "v1", "data": {"k": "c2VjcmV0"}},
            },
        ),
        NewEvent(
            kind="drift.detected",
            actor="reconciler",
            subject="apps/Deployment/team-b/web",
            source="infra",
            payload={"message": "spec.replicas 2 -> 5 by kubectl-edit"},
        ),
        NewEvent(
            kind="rollback",
            actor="carol",
            subject="source/apps",
            source="apps",
            commit="a" * 40,
            payload={"reason": "=cmd|' /C calc'!A0"},
        ),
    ]


@pytest.fixture
def signer() -> Signer:
    return Signer(Ed25519PrivateKey.generate())


@pytest.fixture
def history(store: AuditStore, signer: Signer) -> AuditStore:
    """Six events an hour apart from START, then a checkpoint over all of them."""
    ticks = count()
    timed = AuditStore(store.engine, clock=lambda: START + timedelta(hours=next(ticks)))
    for event in day_of_events():
        timed.append(event)
    timed.checkpoint(signer)
    return timed


def append_fake(store: AuditStore) -> None:
    """A well-formed `sync.applied` appended after the last checkpoint, as a database owner
    could."""
    store.append(
        NewEvent(
            kind="sync.applied",
            actor="reconciler",
            subject="source/apps",
            source="apps",
            commit="f" * 40,
            payload={"applied": ["apps/Deployment/team-a/backdoor"]},
        )
    )


def edit_record(store: AuditStore, seq: int, actor: str) -> None:
    """Change a stored record in place, triggers dropped first."""
    with store.engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(text("DROP TRIGGER audit_events_append_only ON audit_events"))
        else:
            connection.execute(text("DROP TRIGGER audit_events_no_update"))
        connection.execute(
            text("UPDATE audit_events SET actor = :actor WHERE seq = :seq"),
            {"actor": actor, "seq": seq},
        )


def public_pem(signer: Signer) -> bytes:
    return signer.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def write_config(
    folder: Path,
    store: AuditStore,
    signer: Signer | None,
    *,
    public: bool = True,
) -> Path:
    """A configuration naming the store and, as asked, the signing key and its public half."""
    audit: dict[str, str] = {}
    if signer is not None:
        private = folder / "audit.pem"
        private.write_bytes(
            signer.private_key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        audit["signingKeyFile"] = str(private)
        if public:
            (folder / "audit.pub").write_bytes(public_pem(signer))
            audit["publicKeyFile"] = str(folder / "audit.pub")
    url = store.engine.url.render_as_string(hide_password=False)
    config = folder / "gatekeeper.yaml"
    config.write_text(json.dumps({"database": {"url": url}, "audit": audit}))
    return config
