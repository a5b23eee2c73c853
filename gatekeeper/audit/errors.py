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
    """The database's schema is not this release's: not migrated yet (run `gatekeeper db
    upgrade`), or migrated by a newer release."""


class AppendOnlyViolation(AuditError):
    """The database refused an UPDATE or DELETE of audit records, as it must."""


class SigningKeyError(AuditError):
    """A checkpoint key is missing, unreadable, or not an Ed25519 key."""


class TamperDetected(AuditError):
    """Verification found the log or its checkpoints altered."""


class CorruptRecord(TamperDetected):
    """A stored record cannot be read back as one: a field of the wrong type, a payload that is
    not a JSON object, a time that is not a time. Only an edit outside the store makes one."""

    def __init__(self, message: str, *, seq: int) -> None:
        super().__init__(message)
        self.seq = seq


class CorruptCheckpoint(TamperDetected):
    """A stored checkpoint cannot be read back as one (its seq or time is not what it must be)."""

    def __init__(self, message: str, *, seq: int = 0, row: str = "") -> None:
        super().__init__(message)
        self.seq = seq
        self.row = row


class SchemaDamaged(TamperDetected):
    """The schema is at this release's revision but a table or column of it is gone: the
    database was altered outside gatekeeper."""


class WitnessError(AuditError):
    """A witness of the checkpoints is not one, holds something unexpected, or was refused."""


class WitnessUnavailable(WitnessError):
    """The witness could not be reached, read or written; trying again later may succeed."""


class WitnessConflict(WitnessError):
    """The witness holds a different checkpoint under the same id: the database's checkpoints
    were deleted or rewritten since it was written (or two databases share the witness)."""
