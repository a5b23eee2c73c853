"""The provenance subpackage's errors, hung under the project's error root."""

from __future__ import annotations

from gatekeeper.errors import GatekeeperError


class ProvenanceError(GatekeeperError):
    """Root of the provenance errors: provenance could not be established (as opposed to: it
    was, and a commit failed it, which is a verdict, not an error)."""


class RepositoryError(ProvenanceError):
    """Git could not clone, fetch, resolve or read what was asked."""


class TrustPolicyError(ProvenanceError):
    """The trust policy file is invalid; the message names the file and the key."""
