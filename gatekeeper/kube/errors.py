"""Errors of the Kubernetes adapter: the API server's answers, in the project's own terms."""

from __future__ import annotations

from gatekeeper.errors import GatekeeperError


class KubeError(GatekeeperError):
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


class Forbidden(KubeError):
    """The identity may not do this (HTTP 401 or 403)."""


class Gone(KubeError):
    """A watch's resourceVersion is too old (HTTP 410): list again, then watch."""


class UnknownKind(KubeError):
    """The cluster serves no API for an object's apiVersion and kind."""
