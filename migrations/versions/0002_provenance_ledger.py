"""The provenance ledger: verified commits and the desired manifests of each, append-only.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-26
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gatekeeper.audit import triggers
from gatekeeper.audit.schema import UtcDateTime

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TABLES = ("verified_commits", "desired_objects")


def upgrade() -> None:
    op.create_table(
        "verified_commits",
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("commit_sha", sa.String(64), nullable=False),
        sa.Column("verified_at", UtcDateTime(), nullable=False),
        sa.Column("signer", sa.String(256), nullable=True),
        sa.Column("key_id", sa.String(128), nullable=True),
        sa.Column("format", sa.String(16), nullable=True),
        sa.PrimaryKeyConstraint("source", "commit_sha", name="pk_verified_commits"),
    )
    op.create_table(
        "desired_objects",
        sa.Column("source", sa.String(128), nullable=False),
        sa.Column("commit_sha", sa.String(64), nullable=False),
        sa.Column("api_group", sa.String(253), nullable=False),
        sa.Column("kind", sa.String(128), nullable=False),
        sa.Column("namespace", sa.String(253), nullable=False),
        sa.Column("name", sa.String(253), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("digest", sa.String(80), nullable=False),
        sa.Column("manifest", sa.Text(), nullable=False),
        sa.Column("recorded_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint(
            "source",
            "commit_sha",
            "api_group",
            "kind",
            "namespace",
            "name",
            name="pk_desired_objects",
        ),
    )
    triggers.create(op.execute, op.get_bind().dialect.name, _TABLES)


def downgrade() -> None:
    triggers.drop(op.execute, op.get_bind().dialect.name, _TABLES)
    op.drop_table("desired_objects")
    op.drop_table("verified_commits")
