"""Errors of the reconciler, under the project's one root."""

from __future__ import annotations

from typing import TYPE_CHECKING

from gatekeeper.errors import CheckFailed, GatekeeperError

if TYPE_CHECKING:
    from gatekeeper.audit.ledger import ObjectKey


class ReconcileError(GatekeeperError):
    """Something in a reconcile pass went wrong."""


class RenderError(ReconcileError):
    """The manifests of a commit could not be rendered (bad YAML, missing tool, bad chart)."""


class KubeError(ReconcileError):
    """The Kubernetes API answered with an error, or could not be reached."""

    def __init__(self, message: str, *, status: int = 0, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason

    @property
    def transient(self) -> bool:
        """True when trying again later may succeed (unreachable, throttled, server error)."""
        return self.status in {0, 429} or self.status >= 500


class NotFound(KubeError):
    """The object (or its API) does not exist."""


class Conflict(KubeError):
    """An optimistic-concurrency conflict (HTTP 409)."""


class UnknownKind(ReconcileError):
    """The cluster serves no API for an object's apiVersion and kind."""


class RollbackRefused(CheckFailed):
    """A rollback was asked for a commit that may not be rolled back to."""


class NotLeader(ReconcileError):
    """This replica lost (or never had) the Lease; it must not apply."""


class ApplyFailed(ReconcileError):
    """The API failed part-way through an apply; says exactly what was and was not applied."""

    def __init__(self, error: str, applied: list[ObjectKey], not_applied: list[ObjectKey]) -> None:
        super().__init__(error)
        self.applied = applied
        self.not_applied = not_applied
