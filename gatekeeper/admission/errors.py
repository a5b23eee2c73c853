"""Errors of the admission webhook."""

from __future__ import annotations

from gatekeeper.errors import GatekeeperError


class AdmissionError(GatekeeperError):
    """Root of the admission webhook's errors."""


class BadReview(AdmissionError):
    """The request body is not an AdmissionReview v1 the webhook can decide on (HTTP 400)."""


class BodyTooLarge(BadReview):
    """The request body is larger than `server.maxBodyBytes`."""


class MalformedRequest(AdmissionError):
    """The AdmissionReview has a usable envelope but its request is not well formed.

    It is answered with a refusal for `uid` (HTTP 200), never decided or recorded.
    """

    def __init__(self, uid: str, message: str) -> None:
        super().__init__(message)
        self.uid = uid


class CertificateError(AdmissionError):
    """The webhook's own certificates cannot be made, read or kept."""


class ForeignSecret(CertificateError):
    """The Secret meant for the webhook's certificates exists but was not made by it."""
