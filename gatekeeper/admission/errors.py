"""Errors of the admission webhook."""

from __future__ import annotations

from gatekeeper.errors import GatekeeperError


class AdmissionError(GatekeeperError):
    """Root of the admission webhook's errors."""


class BadReview(AdmissionError):
    """The request body is not an AdmissionReview v1 the webhook can decide on (HTTP 400)."""


class BodyTooLarge(BadReview):
    """The request body is larger than `server.maxBodyBytes`."""
