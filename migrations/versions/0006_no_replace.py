"""Append-only tables refuse a second row under a key already taken, on SQLite.

`INSERT OR REPLACE` and `REPLACE INTO` rewrite a row by deleting it first, a delete that fires
no DELETE trigger (unless the connection doing it asks for recursive triggers): audit records,
checkpoints and ledger rows could be rewritten without dropping a trigger. PostgreSQL's only
such path, `ON CONFLICT DO UPDATE`, already fires the UPDATE trigger.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

from gatekeeper.audit import triggers

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_KEYS = {
    "audit_events": ("seq",),
    "audit_checkpoints": ("id",),
    "verified_commits": ("source", "commit_sha"),
    "desired_objects": ("source", "commit_sha", "api_group", "kind", "namespace", "name"),
}


def upgrade() -> None:
    triggers.create_no_replace(op.execute, op.get_bind().dialect.name, _KEYS)


def downgrade() -> None:
    triggers.drop_no_replace(op.execute, op.get_bind().dialect.name, _KEYS)
