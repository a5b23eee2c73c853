"""The provenance ledger vouched for by the audit chain.

Each ledger row gains `vouch_seq`: the `ledger.recorded` record written in the same
transaction, which names the row and its digest, so that `audit verify` finds a row forged
or changed behind the gatekeeper's back. Rows already in the ledger have no such record and
keep a null `vouch_seq`. They are not declared genuine here (nothing can tell now whether
they were changed before this upgrade), but they are pinned: one `ledger.legacy` record
appended to the chain states, per table, source and commit, how many rows there are and one
digest over them. From then on they are reported as unvouched legacy rows, never as
verified, and the webhook trusts them only while they still match the pin; any row with no
record that the pin does not hold is a forgery.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from gatekeeper.audit import chain
from gatekeeper.audit import ledger_rows as rows_
from gatekeeper.audit.database import lock_chain
from gatekeeper.audit.schema import UtcDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = (rows_.COMMITS, rows_.OBJECTS)
_EVENTS = sa.table(
    "audit_events",
    sa.column("seq", sa.BigInteger),
    sa.column("time", UtcDateTime()),
    sa.column("kind", sa.String),
    sa.column("actor", sa.String),
    sa.column("subject", sa.String),
    sa.column("source", sa.String),
    sa.column("commit_sha", sa.String),
    sa.column("payload", sa.Text),
    sa.column("prev_hash", sa.String),
    sa.column("hash", sa.String),
)


def upgrade() -> None:
    for table in _TABLES:
        op.add_column(table, sa.Column("vouch_seq", sa.BigInteger(), nullable=True))
    bind = op.get_bind()
    lock_chain(bind)
    groups: dict[tuple[str, str, str], list[str]] = defaultdict(list)
    for table in _TABLES:
        for row in bind.execute(sa.text(f"SELECT * FROM {table}")).mappings():
            groups[(table, row["source"], row["commit_sha"])].append(rows_.row_digest(table, row))
    if groups:
        _append_pin(bind, rows_.legacy_payload(groups))


def _append_pin(bind: sa.Connection, payload: dict[str, object]) -> None:
    head = bind.execute(
        sa.text("SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1")
    ).first()
    seq, prev_hash = (1, "0" * 64) if head is None else (int(head[0]) + 1, str(head[1]))
    moment = chain.as_utc(datetime.now(UTC))
    payload_json = chain.canonical_payload(payload)
    digest = chain.record_hash(
        seq=seq,
        time=chain.format_time(moment),
        kind=rows_.LEDGER_LEGACY,
        actor=rows_.ACTOR,
        subject="ledger",
        source=None,
        commit=None,
        payload_json=payload_json,
        prev_hash=prev_hash,
    )
    bind.execute(
        sa.insert(_EVENTS).values(
            seq=seq,
            time=moment,
            kind=rows_.LEDGER_LEGACY,
            actor=rows_.ACTOR,
            subject="ledger",
            source=None,
            commit_sha=None,
            payload=payload_json,
            prev_hash=prev_hash,
            hash=digest,
        )
    )


def downgrade() -> None:
    # The pin record stays: the chain is append-only, and it is valid without the columns.
    for table in _TABLES:
        op.drop_column(table, "vouch_seq")
