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


class HistoryRewritten(ProvenanceError):
    """The target does not descend from the commit a range starts after: history was rewritten
    (a force-push, a branch moved back, an unrelated history), so there is no forward range to
    verify. `missing` says that the start is not in the repository at all any more."""

    def __init__(self, *, since: str, target: str, missing: bool = False) -> None:
        self.since = since
        self.target = target
        self.missing = missing
        if missing:
            message = (
                f"history rewritten: {since} is no longer in the repository,"
                f" so {target} cannot descend from it"
            )
        else:
            message = f"history rewritten: {target} does not descend from {since}"
        super().__init__(message)
