"""Verdicts: what verification concluded about one commit, and about a range of commits."""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Reason(enum.StrEnum):
    """Why a commit is (or is not) trusted; the first failing check decides."""

    TRUSTED = "trusted"
    UNSIGNED = "unsigned"
    BAD_SIGNATURE = "bad_signature"
    UNKNOWN_KEY = "unknown_key"
    EXPIRED_KEY = "expired_key"
    REVOKED_KEY = "revoked_key"
    SIGNER_NOT_ALLOWED = "signer_not_allowed"
    INSUFFICIENT_SIGNERS = "insufficient_signers"


class SignatureFormat(enum.StrEnum):
    """Git's `gpg.format` values."""

    OPENPGP = "openpgp"
    SSH = "ssh"
    X509 = "x509"


# Reasons that concern the signature itself, as opposed to what the signer may change.
SIGNATURE_REASONS = frozenset(
    {
        Reason.UNSIGNED,
        Reason.BAD_SIGNATURE,
        Reason.UNKNOWN_KEY,
        Reason.EXPIRED_KEY,
        Reason.REVOKED_KEY,
    }
)


@dataclass(frozen=True, slots=True)
class SignatureVerdict:
    """The outcome of checking one signature against the trusted keys."""

    reason: Reason
    format: SignatureFormat | None
    signer: str | None
    key_id: str | None
    detail: str = ""

    @property
    def valid(self) -> bool:
        return self.reason is Reason.TRUSTED


@dataclass(frozen=True, slots=True)
class CommitVerdict:
    """The outcome for one commit: its signature, its signer's rights over its paths."""

    sha: str
    reason: Reason
    detail: str
    format: SignatureFormat | None
    signer: str | None
    key_id: str | None
    paths: tuple[str, ...]
    rule: str | None = None
    path: str | None = None

    @property
    def trusted(self) -> bool:
        return self.reason is Reason.TRUSTED


@dataclass(frozen=True, slots=True)
class RangeVerdict:
    """The outcome for a range: trusted only when every commit (and the tag, if any) is."""

    target: str
    since: str | None
    mode: str
    commits: tuple[CommitVerdict, ...]
    tag: CommitVerdict | None = None

    @property
    def trusted(self) -> bool:
        tag_ok = self.tag is None or self.tag.trusted
        return tag_ok and all(commit.trusted for commit in self.commits)

    @property
    def untrusted(self) -> tuple[CommitVerdict, ...]:
        found = tuple(commit for commit in self.commits if not commit.trusted)
        if self.tag is not None and not self.tag.trusted:
            return (self.tag, *found)
        return found

    @property
    def signers(self) -> frozenset[str]:
        return frozenset(c.signer for c in self.commits if c.trusted and c.signer is not None)
