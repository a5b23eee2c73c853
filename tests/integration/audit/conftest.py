"""Fixtures shared by the audit store's integration tests."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.ledger import Ledger
from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.verify import verify_store


@pytest.fixture
def signer() -> Signer:
    """A fresh checkpoint signing key."""
    return Signer(Ed25519PrivateKey.generate())


@pytest.fixture
def synced(store: AuditStore, signer: Signer) -> AuditStore:
    """A vouched ledger row and five sync records, all under a checkpoint; verifies."""
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
