"""Errors of writing PolicyReports."""

from __future__ import annotations

from gatekeeper.errors import GatekeeperError


class PolicyReportError(GatekeeperError):
    """A PolicyReport could not be written (it is tried again)."""
