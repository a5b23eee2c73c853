"""Fixtures shared by the audit store's integration tests."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.audit.signing import Signer


@pytest.fixture
def signer() -> Signer:
    """A fresh checkpoint signing key."""
    return Signer(Ed25519PrivateKey.generate())
