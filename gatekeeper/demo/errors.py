"""The demo's errors."""

from __future__ import annotations

from gatekeeper.errors import GatekeeperError


class DemoError(GatekeeperError):
    """Root of the demo's errors."""


class DemoFailed(DemoError):
    """A step of the demo did something other than what it should have."""
