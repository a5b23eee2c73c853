"""The provenance subpackage's errors, hung under the project's error root."""

from __future__ import annotations

from gatekeeper.errors import ConfigError, GatekeeperError


class ProvenanceError(GatekeeperError):
    """Provenance could not be established (as opposed to: it was, and it failed)."""


class RepositoryError(ProvenanceError):
    """Git could not clone, fetch, resolve or read what was asked."""


class TrustPolicyError(ConfigError):
    """The trust policy file is invalid; the message names the file and the key."""
