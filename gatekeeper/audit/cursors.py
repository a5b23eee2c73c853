"""Delivery cursors: how far each follower of the log (a notification target, the policy
reports) has got, kept in the audit database beside the records they point into."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime
from typing import cast

from sqlalchemy import BigInteger, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, mapped_column

from gatekeeper.audit.schema import Base, UtcDateTime
from gatekeeper.audit.store import AuditStore


class CursorRow(Base):
    """The last record one follower has dealt with. Not evidence: it moves, so no trigger
    guards it; losing it repeats or skips notifications, never changes the log."""

    __tablename__ = "delivery_cursors"

    name: Mapped[str] = mapped_column(String(128), primary_key=True)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, nullable=False)


CURSORS = cast(Table, CursorRow.__table__)


class Cursors:
    """Read and move cursors. A move names the position it starts from, so two processes
    that both believe they deliver cannot both move one cursor past the same record."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store

    def get(self, name: str) -> int | None:
        """The cursor's position, or None when it was never set."""
        with self._store.translated(), self._store.engine.connect() as connection:
            value = connection.execute(select(CursorRow.seq).where(CursorRow.name == name)).scalar()
        return None if value is None else int(value)

    def start(self, name: str, seq: int) -> int:
        """Set a new cursor at `seq`; its position (another's, if one set it first)."""
        now = datetime.now(UTC)
        row = {"name": name, "seq": seq, "updated_at": now}
        with (
            self._store.translated(),
            contextlib.suppress(IntegrityError),
            self._store.engine.begin() as connection,
        ):
            connection.execute(insert(CURSORS), [row])
        found = self.get(name)
        return seq if found is None else found

    def advance(self, name: str, *, frm: int, to: int) -> bool:
        """Move the cursor from `frm` to `to`; False when it was no longer at `frm`."""
        statement = (
            update(CURSORS)
            .where(CURSORS.c.name == name, CURSORS.c.seq == frm)
            .values(seq=to, updated_at=datetime.now(UTC))
        )
        with self._store.translated(), self._store.engine.begin() as connection:
            return connection.execute(statement).rowcount == 1
