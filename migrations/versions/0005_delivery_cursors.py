"""Delivery cursors: how far each follower of the log (notifications, policy reports) got.

A row per follower, moved as it delivers, so that a restart resumes after the last record
delivered. The table holds no evidence, so it is not append-only.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gatekeeper.audit.schema import UtcDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "delivery_cursors",
        sa.Column("name", sa.String(128), nullable=False),
        sa.Column("seq", sa.BigInteger(), nullable=False),
        sa.Column("updated_at", UtcDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("name", name="pk_delivery_cursors"),
    )


def downgrade() -> None:
    op.drop_table("delivery_cursors")
