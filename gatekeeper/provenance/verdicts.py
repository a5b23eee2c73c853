"""Verdicts: what verification concluded about one commit, and about a range of commits."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime


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
class MatchedRule:
    """A trust-policy rule as it decided a path: its patterns, whom it allows, how many."""

    index: int
    paths: tuple[str, ...]
    signers: tuple[str, ...] | None  # None: any listed signer
    min_signers: int


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
    rule: str | None = None  # the label of the rule that refused the commit
    path: str | None = None
    author: str | None = None  # `Name <email>`, as the commit names its author
    time: datetime | None = None  # the committer time the key was judged at
    # The most specific rule of each path the commit touches, distinct, by rule index.
    rules: tuple[MatchedRule, ...] = ()

    @property
    def trusted(self) -> bool:
        return self.reason is Reason.TRUSTED


@dataclass(frozen=True, slots=True)
class RuleOutcome:
    """One rule over a range: the commits it decided and the distinct trusted signers of
    those commits, which its `min_signers` counts."""

    rule: MatchedRule
    commits: tuple[str, ...]
    signers: tuple[str, ...]

    @property
    def met(self) -> bool:
        return len(self.signers) >= self.rule.min_signers


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

    @property
    def rules(self) -> tuple[RuleOutcome, ...]:
        """Every rule that decided a path of the range, by index, with the signers it met."""
        found: dict[int, tuple[MatchedRule, list[CommitVerdict]]] = {}
        for commit in self.commits:
            for rule in commit.rules:
                found.setdefault(rule.index, (rule, []))[1].append(commit)
        return tuple(
            RuleOutcome(
                rule=rule,
                commits=tuple(c.sha for c in governed),
                signers=tuple(sorted({c.signer for c in governed if c.trusted and c.signer})),
            )
            for _, (rule, governed) in sorted(found.items())
        )
