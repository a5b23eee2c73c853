"""Errors of the reconciler, under the project's one root."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gatekeeper.errors import GatekeeperError

if TYPE_CHECKING:
    from gatekeeper.kube.objects import ObjectKey


class ReconcileError(GatekeeperError):
    """Root of the reconciler's errors: something in a reconcile pass went wrong."""


class SourceUnavailable(ReconcileError):
    """A source's Git remote could not be cloned or fetched; nothing of it was checked.

    `reason`: `auth`, `host-key`, `unreachable`, `credentials` or `error`."""

    def __init__(self, message: str, reason: str = "error") -> None:
        super().__init__(message)
        self.reason = reason


class RenderError(ReconcileError):
    """The manifests of a commit could not be rendered (bad YAML, missing tool, bad chart)."""


class DependencyRefused(RenderError):
    """A chart dependency the commit locks could not be fetched as pinned: its archive has
    another digest, or it comes from a repository the source may not fetch from."""

    def __init__(self, message: str, **details: str) -> None:
        super().__init__(message)
        self.details = details

    @property
    def reason(self) -> dict[str, str]:
        """The `sync.rejected` reason: kind `dependency`, the message, and what was fetched."""
        return {"kind": "dependency", "message": str(self), **self.details}


class RollbackRefused(ReconcileError):
    """A rollback was asked for a commit that may not be rolled back to."""


class NotLeader(ReconcileError):
    """This replica lost (or never had) the Lease; it must not apply."""


class ApplyFailed(ReconcileError):
    """The API failed part-way through an apply; says exactly what was and was not applied."""

    def __init__(self, error: str, applied: list[ObjectKey], not_applied: list[ObjectKey]) -> None:
        super().__init__(error)
        self.applied = applied
        self.not_applied = not_applied
