"""Errors of notification delivery."""

from __future__ import annotations

from gatekeeper.errors import GatekeeperError


class NotifyError(GatekeeperError):
    """A notification could not be delivered (it is tried again)."""
