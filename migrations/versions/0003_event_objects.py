"""The object an audit record is about, as columns, and indexes for the auditors' filters.

Both are derived from the record's subject (never hashed: the subject is), so that filtering a
million records by namespace or object kind does not scan them. Records written before this
revision are filled in here, with the append-only triggers lifted for that one statement set
and put back in the same transaction.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from gatekeeper.audit import triggers
from gatekeeper.kube.objects import ObjectKey

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BATCH = 5000
# One filter pages by (column, seq); a filter with record kinds narrows by (column, kind, seq),
# so that a combination that matches little does not walk everything one column matches.
_INDEXES = (
    ("ix_audit_events_obj_namespace_seq", ["obj_namespace", "seq"]),
    ("ix_audit_events_obj_kind_seq", ["obj_kind", "seq"]),
    ("ix_audit_events_obj_namespace_kind_seq", ["obj_namespace", "kind", "seq"]),
    ("ix_audit_events_obj_kind_kind_seq", ["obj_kind", "kind", "seq"]),
    ("ix_audit_events_source_kind_seq", ["source", "kind", "seq"]),
    ("ix_audit_events_actor_kind_seq", ["actor", "kind", "seq"]),
)


def upgrade() -> None:
    op.add_column("audit_events", sa.Column("obj_namespace", sa.String(253), nullable=True))
    op.add_column("audit_events", sa.Column("obj_kind", sa.String(128), nullable=True))
    bind = op.get_bind()
    dialect = bind.dialect.name
    triggers.drop(op.execute, dialect, ["audit_events"])
    subjects = bind.execute(sa.text("SELECT DISTINCT subject FROM audit_events")).scalars()
    update = sa.text(
        "UPDATE audit_events SET obj_namespace = :namespace, obj_kind = :kind "
        "WHERE subject = :subject"
    )
    batch: list[dict[str, str]] = []
    for subject in list(subjects):
        key = ObjectKey.parse(subject)
        if key is None:
            continue
        batch.append({"subject": subject, "namespace": key.namespace, "kind": key.kind})
        if len(batch) >= _BATCH:
            bind.execute(update, batch)
            batch = []
    if batch:
        bind.execute(update, batch)
    triggers.create(op.execute, dialect, ["audit_events"])
    for name, columns in _INDEXES:
        op.create_index(name, "audit_events", columns)
    # A period is turned into the seq range it spans; with seq in the time index that is
    # answered from the index alone.
    op.drop_index("ix_audit_events_time", "audit_events")
    op.create_index("ix_audit_events_time_seq", "audit_events", ["time", "seq"])


def downgrade() -> None:
    op.drop_index("ix_audit_events_time_seq", "audit_events")
    op.create_index("ix_audit_events_time", "audit_events", ["time"])
    for name, _columns in reversed(_INDEXES):
        op.drop_index(name, "audit_events")
    op.drop_column("audit_events", "obj_kind")
    op.drop_column("audit_events", "obj_namespace")
