"""Tables of the audit store: the event log and its signed checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Index, MetaData, String, Text, TypeDecorator
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from gatekeeper.audit.chain import format_time, parse_time

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes: `timestamptz` on PostgreSQL, fixed-width ISO text on SQLite.

    ISO text with a fixed width sorts like time, so range queries use the index on SQLite too.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(27))
        return dialect.type_descriptor(DateTime(timezone=True))

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> Any:
        if value is None:
            return None
        if dialect.name == "sqlite":
            return format_time(value)
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)

    def process_result_value(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if isinstance(value, str):
            try:
                return parse_time(value)
            except ValueError:
                # Handed back as it is, so that the reader of the row can say which row holds
                # it (only an edit outside the store writes such text).
                return value
        if not isinstance(value, datetime):
            return value  # a blob or a number on SQLite: as above
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


class EventRow(Base):
    """One audit record. Rows are only ever inserted; triggers refuse UPDATE and DELETE."""

    __tablename__ = "audit_events"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    time: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    kind: Mapped[str] = mapped_column(String(64), nullable=False)
    actor: Mapped[str] = mapped_column(String(256), nullable=False)
    subject: Mapped[str] = mapped_column(String(512), nullable=False)
    source: Mapped[str | None] = mapped_column(String(128))
    commit: Mapped[str | None] = mapped_column("commit_sha", String(64))
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    prev_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # Derived from `subject` when the record is written (not hashed): what filters index.
    obj_namespace: Mapped[str | None] = mapped_column(String(253))
    obj_kind: Mapped[str | None] = mapped_column(String(128))

    __table_args__ = (
        Index("ix_audit_events_obj_namespace_seq", "obj_namespace", "seq"),
        Index("ix_audit_events_obj_kind_seq", "obj_kind", "seq"),
        Index("ix_audit_events_obj_namespace_kind_seq", "obj_namespace", "kind", "seq"),
        Index("ix_audit_events_obj_kind_kind_seq", "obj_kind", "kind", "seq"),
        Index("ix_audit_events_source_kind_seq", "source", "kind", "seq"),
        Index("ix_audit_events_actor_kind_seq", "actor", "kind", "seq"),
        Index("ix_audit_events_time_seq", "time", "seq"),
        Index("ix_audit_events_kind_seq", "kind", "seq"),
        Index("ix_audit_events_source_seq", "source", "seq"),
        Index("ix_audit_events_subject_seq", "subject", "seq"),
        Index("ix_audit_events_actor_seq", "actor", "seq"),
        Index("ix_audit_events_commit_sha", "commit_sha"),
    )


class CheckpointRow(Base):
    """A signature over the chain head at one sequence number; the key never enters the DB."""

    __tablename__ = "audit_checkpoints"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    head_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    time: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    key_id: Mapped[str] = mapped_column(String(80), nullable=False)
    signature: Mapped[str] = mapped_column(String(128), nullable=False)

    __table_args__ = (Index("ix_audit_checkpoints_seq", "seq"),)


class VerifiedCommitRow(Base):
    """A commit the reconciler verified for a source; the webhook admits nothing else."""

    __tablename__ = "verified_commits"

    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    commit: Mapped[str] = mapped_column("commit_sha", String(64), primary_key=True)
    verified_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    signer: Mapped[str | None] = mapped_column(String(256))
    key_id: Mapped[str | None] = mapped_column(String(128))
    format: Mapped[str | None] = mapped_column(String(16))
    # The `ledger.recorded` record written with the row; null for rows older than vouching.
    vouch_seq: Mapped[int | None] = mapped_column(BigInteger)


class DesiredObjectRow(Base):
    """The manifest Git holds for one object at one verified commit, and its digest."""

    __tablename__ = "desired_objects"

    source: Mapped[str] = mapped_column(String(128), primary_key=True)
    commit: Mapped[str] = mapped_column("commit_sha", String(64), primary_key=True)
    api_group: Mapped[str] = mapped_column(String(253), primary_key=True)
    kind: Mapped[str] = mapped_column(String(128), primary_key=True)
    namespace: Mapped[str] = mapped_column(String(253), primary_key=True)
    name: Mapped[str] = mapped_column(String(253), primary_key=True)
    path: Mapped[str] = mapped_column(String(1024), nullable=False)
    digest: Mapped[str] = mapped_column(String(80), nullable=False)
    manifest: Mapped[str] = mapped_column(Text, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)
    vouch_seq: Mapped[int | None] = mapped_column(BigInteger)
