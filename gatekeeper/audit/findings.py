"""What verification can find wrong: one finding per problem, at a record or a ledger row."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Problem = Literal[
    "missing_record",
    "unexpected_record",
    "broken_link",
    "hash_mismatch",
    "malformed_record",
    "malformed_checkpoint",
    "truncated",
    "checkpoint_mismatch",
    "bad_signature",
    "unknown_key",
    "witness_missing",
    "witness_differs",
    "witness_chain_mismatch",
    "witness_bad_signature",
    "witness_unknown_key",
    "checkpoint_missing",
    "checkpoint_stale",
    "checkpoint_behind",
    "ledger_unvouched",
    "ledger_mismatch",
    "ledger_legacy_changed",
]

# Problems of the checkpoints' freshness and of the provenance ledger: no record of the
# chain is wrong in itself, so they are reported apart from the chain's first bad record.
FRESHNESS_PROBLEMS: frozenset[Problem] = frozenset(
    {"checkpoint_missing", "checkpoint_stale", "checkpoint_behind"}
)
LEDGER_PROBLEMS: frozenset[Problem] = frozenset(
    {"ledger_unvouched", "ledger_mismatch", "ledger_legacy_changed"}
)


@dataclass(frozen=True)
class Finding:
    """One thing wrong with the log, at a sequence number.

    Ledger findings name their table and row; their `seq` is the record that vouches for
    the row (0 when none does).
    """

    problem: Problem
    seq: int
    detail: str
    table: str | None = None
    row: str | None = None
