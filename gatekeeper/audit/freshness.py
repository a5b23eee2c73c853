"""The checkpoints' freshness rule: with checkpoints configured, records may not wait long
for one, nor pile up after the newest.

Deleting checkpoints leaves a chain that verifies: whoever can write the database can then
rewrite and re-chain the records they covered. Without a witness, what shows it is that the
records are no longer covered: none is when every checkpoint went, and the first uncovered
record is older than a healthy installation ever lets one wait.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from gatekeeper.audit import chain
from gatekeeper.audit.findings import Finding


@dataclass(frozen=True)
class Freshness:
    """How long a record may wait for a checkpoint, and how many may wait at once."""

    max_age: float
    max_uncovered: int

    def __post_init__(self) -> None:
        if self.max_age <= 0 or self.max_uncovered < 1:
            raise ValueError("the checkpoint maximum age and record count must be positive")


def check_freshness(
    rule: Freshness,
    *,
    head_seq: int,
    last_checkpoint_seq: int | None,
    last_checkpoint_time: datetime | None,
    first_uncovered_time: datetime | None,
    now: datetime,
) -> list[Finding]:
    """Findings when records exist that the newest checkpoint leaves uncovered for too long.

    A record's wait is counted from the later of the newest checkpoint and the record's own
    time: after a quiet spell the newest checkpoint is old, yet the record just written has
    waited for nothing. Records that no checkpoint covers at all fail at once.
    """
    covered = last_checkpoint_seq or 0
    if head_seq <= covered:
        return []
    first = covered + 1
    span = f"{first}" if first == head_seq else f"{first}..{head_seq}"
    if last_checkpoint_seq is None:
        return [
            Finding(
                "checkpoint_missing",
                first,
                f"records {span} are covered by no checkpoint although checkpoints are "
                "configured: they were deleted, or none was ever signed (a service with "
                "audit.signingKeyFile signs one within audit.checkpointInterval; "
                "`gatekeeper audit checkpoint` signs one now)",
            )
        ]
    findings: list[Finding] = []
    uncovered = head_seq - covered
    if uncovered > rule.max_uncovered:
        findings.append(
            Finding(
                "checkpoint_behind",
                first,
                f"{uncovered} records ({span}) come after the newest checkpoint, more than "
                f"audit.checkpointMaxUncovered ({rule.max_uncovered}): checkpoints were "
                "deleted or are not being signed",
            )
        )
    assert last_checkpoint_time is not None
    since = last_checkpoint_time
    if first_uncovered_time is not None and first_uncovered_time > since:
        since = first_uncovered_time
    waited = now - since
    if waited > timedelta(seconds=rule.max_age):
        findings.append(
            Finding(
                "checkpoint_stale",
                first,
                f"records {span} have waited {_duration(waited)} for a checkpoint, longer "
                f"than audit.checkpointMaxAge ({_duration(timedelta(seconds=rule.max_age))}); "
                f"the newest covers record {covered} and was signed "
                f"{chain.format_time(last_checkpoint_time)}: newer ones were deleted, or no "
                "service with the signing key is running",
            )
        )
    return findings


def _duration(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    if seconds < 120:
        return f"{seconds} s"
    if seconds < 7200:
        return f"{seconds // 60} min"
    return f"{seconds // 3600} h"
