"""The reconciler harness of the reconcile tests: signed repositories, the local control
plane, Rego, a real audit store."""

from __future__ import annotations

from tests.integration.reconcile.conftest import (
    audit_store,
    gpg_home,
    harness,
    keys,
    policy_engine,
    signed_repo,
)

__all__ = ["audit_store", "gpg_home", "harness", "keys", "policy_engine", "signed_repo"]
