"""The audit log: events, checkpoints, and triggers that make both append-only.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gatekeeper.audit import triggers
from gatekeeper.audit.schema import UtcDateTime

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("audit_events", "audit_checkpoints")


def upgrade() -> None:
    op.create_table(
        "audit_events",
        sa.Column("seq", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("time", UtcDateTime(), nullable=False),
        sa.Column("kind", sa.String(64), nullable=False),
        sa.Column("actor", sa.String(256), nullable=False),
        sa.Column("subject", sa.String(512), nullable=False),
        sa.Column("source", sa.String(128), nullable=True),
        sa.Column("commit_sha", sa.String(64), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("hash", sa.String(64), nullable=False),
        sa.PrimaryKeyConstraint("seq", name="pk_audit_events"),
    )
    op.create_index("ix_audit_events_time", "audit_events", ["time"])
    op.create_index("ix_audit_events_kind_seq", "audit_events", ["kind", "seq"])
    op.create_index("ix_audit_events_source_seq", "audit_events", ["source", "seq"])
    op.create_index("ix_audit_events_subject_seq", "audit_events", ["subject", "seq"])
    op.create_index("ix_audit_events_actor_seq", "audit_events", ["actor", "seq"])
    op.create_index("ix_audit_events_commit_sha", "audit_events", ["commit_sha"])
    op.create_table(
        "audit_checkpoints",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("head_hash", sa.String(64), nullable=False),
        sa.Column("time", UtcDateTime(), nullable=False),
        sa.Column("key_id", sa.String(80), nullable=False),
        sa.Column("signature", sa.String(128), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_audit_checkpoints"),
    )
    op.create_index("ix_audit_checkpoints_seq", "audit_checkpoints", ["seq"])
    dialect = op.get_bind().dialect.name
    if dialect == "postgresql":
        triggers.create_refuse_function(op.execute)
    triggers.create(op.execute, dialect, _TABLES)


def downgrade() -> None:
    dialect = op.get_bind().dialect.name
    triggers.drop(op.execute, dialect, _TABLES)
    if dialect == "postgresql":
        op.execute(f"DROP FUNCTION IF EXISTS {triggers.REFUSE_FUNCTION}()")
    op.drop_table("audit_checkpoints")
    op.drop_table("audit_events")
