"""Errors of the audit store."""

from __future__ import annotations

from gatekeeper.errors import CheckFailed, ConfigError, GatekeeperError


class AuditError(GatekeeperError):
    """Something went wrong in the audit store."""


class StoreUnavailable(AuditError):
    """The database cannot be reached or refused the write; nothing was recorded."""


class StoreBusy(StoreUnavailable):
    """The write lock was not free within the time given; nothing was written."""


class SchemaMissing(AuditError, ConfigError):
    """The database has not been migrated; run `gatekeeper db upgrade`."""


class AppendOnlyViolation(AuditError):
    """The database refused an UPDATE or DELETE of audit records, as it must."""


class SigningKeyError(AuditError):
    """A checkpoint key is missing, unreadable, or not an Ed25519 key."""


class TamperDetected(CheckFailed):
    """Verification found the log or its checkpoints altered."""
