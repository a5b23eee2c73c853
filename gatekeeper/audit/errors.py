"""Errors of the audit store."""

from __future__ import annotations

from gatekeeper.errors import GatekeeperError


class AuditError(GatekeeperError):
    """Root of the audit store's errors."""


class StoreUnavailable(AuditError):
    """The database cannot be reached or refused the write; nothing was recorded."""


class StoreBusy(StoreUnavailable):
    """The write lock was not free within the time given; nothing was written."""


class SchemaMissing(AuditError):
    """The database has not been migrated; run `gatekeeper db upgrade`."""


class AppendOnlyViolation(AuditError):
    """The database refused an UPDATE or DELETE of audit records, as it must."""


class SigningKeyError(AuditError):
    """A checkpoint key is missing, unreadable, or not an Ed25519 key."""


class TamperDetected(AuditError):
    """Verification found the log or its checkpoints altered."""


class WitnessError(AuditError):
    """A witness of the checkpoints is not one, holds something unexpected, or was refused."""


class WitnessUnavailable(WitnessError):
    """The witness could not be reached, read or written; trying again later may succeed."""


class WitnessConflict(WitnessError):
    """The witness holds a different checkpoint under the same id: the database's checkpoints
    were deleted or rewritten since it was written (or two databases share the witness)."""
