"""Errors of the dashboard: each names what the caller got wrong, mapped to HTTP in one place."""

from __future__ import annotations

from gatekeeper.errors import GatekeeperError


class DashboardError(GatekeeperError):
    """Root of the dashboard's errors."""


class BadRequest(DashboardError):
    """A filter, cursor or parameter the API cannot use (HTTP 400); the message says which."""


class NotFoundError(DashboardError):
    """What was asked for does not exist (HTTP 404)."""


class Unauthenticated(DashboardError):
    """No credentials, or credentials nobody vouches for (HTTP 401)."""


class Forbidden(DashboardError):
    """Authenticated, but not allowed this verb on reports.gatekeeper.dev (HTTP 403)."""


class AuthUnavailable(DashboardError):
    """The identity service (the API server's TokenReview) cannot be asked now (HTTP 503)."""
