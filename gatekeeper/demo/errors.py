"""The demo's error: a step that did not behave as the scenario expects."""

from __future__ import annotations

from gatekeeper.errors import CheckFailed


class DemoFailed(CheckFailed):
    """A step of the demo did something other than what it should have (exit code 1)."""
