"""The audit store: appends to the hash chain under a database lock, queries, checkpoints."""

from __future__ import annotations

import contextlib
import functools
import json
import sqlite3
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from sqlalchemy import Connection, Engine, Select, Table, func, insert, select
from sqlalchemy.exc import DBAPIError, SQLAlchemyError

from gatekeeper.audit import chain
from gatekeeper.audit.database import create_database_engine, lock_chain, writer
from gatekeeper.audit.errors import (
    AuditError,
    CorruptCheckpoint,
    CorruptRecord,
    StoreUnavailable,
)
from gatekeeper.audit.events import GENESIS_HASH, NewEvent, Record
from gatekeeper.audit.redact import redact, redact_paths
from gatekeeper.audit.schema import CheckpointRow, EventRow
from gatekeeper.audit.secret_digest import SecretDigester, digester_from_settings
from gatekeeper.audit.signing import Signer, checkpoint_message
from gatekeeper.audit.writer import ChainWriter, translate
from gatekeeper.canonical import NotCanonicalisable, NotSimple, encode_simple, plain_copy
from gatekeeper.errors import GatekeeperError
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.settings import Settings

Clock = Callable[[], datetime]
EVENTS = cast(Table, EventRow.__table__)
_MAX_ID = 2**63 - 1  # the highest BIGINT (and SQLite INTEGER)
_LIMITS = {"actor": 256, "subject": 512, "source": 128, "commit": 64, "kind": 64}


@dataclass(frozen=True)
class Checkpoint:
    """A signed statement that the chain had `head_hash` at `seq`."""

    id: int
    seq: int
    head_hash: str
    time: datetime
    key_id: str
    signature: str

    def message(self) -> bytes:
        return checkpoint_message(
            seq=self.seq,
            head_hash=self.head_hash,
            time=chain.format_time(self.time),
            key=self.key_id,
        )


@dataclass(frozen=True)
class Page:
    """One page of a query; pass `next_cursor` back as `after` for the next page."""

    records: list[Record]
    next_cursor: int | None


@dataclass(frozen=True)
class PreparedEvent:
    """An event checked, redacted and serialised, ready to be sealed into the chain."""

    kind: str
    actor: str
    subject: str
    source: str | None
    commit: str | None
    payload_json: str
    payload: Mapping[str, Any]
    # The object the subject names, for the namespace and object-kind filters (not hashed).
    obj_namespace: str | None = None
    obj_kind: str | None = None


def _utc_now() -> datetime:
    return datetime.now(UTC)


class AuditStore:
    """Append-only access to the event log and its checkpoints."""

    def __init__(
        self,
        engine: Engine,
        *,
        sensitive_fields: Sequence[str] = (),
        clock: Clock = _utc_now,
        secret_digester: SecretDigester | Callable[[], SecretDigester] | None = None,
    ) -> None:
        self.engine = engine
        self._sensitive = tuple(sensitive_fields)
        # Without a configured key, a key of this process: digests match nothing outside it.
        # A callable is asked once, when a Secret is first digested, so that readers of the
        # log (reports, `audit verify`, the dashboard) never need the key or make one.
        self._secret_digester = secret_digester or SecretDigester.ephemeral()
        self._clock = clock
        self._postgresql = engine.dialect.name == "postgresql"
        self._writer = ChainWriter(engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> AuditStore:
        engine = create_database_engine(
            settings.database.url,
            pool_size=settings.database.pool_size,
            sqlite_synchronous=settings.database.sqlite_synchronous,
        )
        return cls(
            engine,
            sensitive_fields=settings.audit.sensitive_fields,
            secret_digester=functools.partial(digester_from_settings, settings),
        )

    @property
    def secret_digester(self) -> SecretDigester:
        """The key Secret values are digested under; loaded (or made) on first use."""
        if not isinstance(self._secret_digester, SecretDigester):
            self._secret_digester = self._secret_digester()
        return self._secret_digester

    def close(self) -> None:
        self._writer.close()
        self.engine.dispose()

    # -- writing -----------------------------------------------------------------------------

    def append(self, event: NewEvent) -> Record:
        """Record one event; it is committed when this returns."""
        return self.append_many([event])[0]

    def append_many(self, events: Sequence[NewEvent]) -> list[Record]:
        """Record several events in one transaction: all of them or none."""
        return self.append_prepared([self.prepare(event) for event in events])

    def append_prepared(
        self,
        prepared: Sequence[PreparedEvent] | Callable[[], Sequence[PreparedEvent]],
        *,
        timeout: float | None = None,
    ) -> list[Record]:
        """Commit events checked and serialised beforehand by `prepare`.

        `prepared` may be a function giving the events: it is called once the write lock is
        held, so that callers who gave up while the lock was awaited can be left out. With
        `timeout`, `StoreBusy` when the lock is not held within that many seconds (counted
        from the call); nothing is written then.
        """
        if not callable(prepared) and not prepared:
            return []
        return self._writer.append(functools.partial(self._seal, prepared), timeout=timeout)

    def _seal(
        self,
        prepared: Sequence[PreparedEvent] | Callable[[], Sequence[PreparedEvent]],
        seq: int,
        prev_hash: str,
    ) -> tuple[list[tuple[Any, ...]], list[Record]]:
        """Chain `prepared` onto the head (seq, prev_hash): the rows to insert, the records."""
        if callable(prepared):
            prepared = prepared()
        # One instant per transaction: the records become durable together.
        moment = chain.as_utc(self._clock())
        time_text = chain.format_time(moment)
        stored = moment if self._postgresql else time_text
        records, rows = [], []
        for item in prepared:
            seq += 1
            digest = chain.record_hash(
                seq=seq,
                time=time_text,
                kind=item.kind,
                actor=item.actor,
                subject=item.subject,
                source=item.source,
                commit=item.commit,
                payload_json=item.payload_json,
                prev_hash=prev_hash,
            )
            rows.append(
                (
                    seq,
                    stored,
                    item.kind,
                    item.actor,
                    item.subject,
                    item.source,
                    item.commit,
                    item.payload_json,
                    prev_hash,
                    digest,
                    item.obj_namespace,
                    item.obj_kind,
                )
            )
            records.append(
                Record(
                    seq=seq,
                    time=moment,
                    kind=item.kind,
                    actor=item.actor,
                    subject=item.subject,
                    source=item.source,
                    commit=item.commit,
                    payload=item.payload,
                    prev_hash=prev_hash,
                    hash=digest,
                )
            )
            prev_hash = digest
        return rows, records

    def prepare(self, event: NewEvent) -> PreparedEvent:
        """Check an event, redact it and serialise its payload; no database access."""
        if not chain.is_valid_kind(event.kind):
            raise AuditError(f"event kind {event.kind!r} is not a dotted lower-case name")
        for name, limit in _LIMITS.items():
            value = getattr(event, name)
            if value is not None and len(value) > limit:
                raise AuditError(f"event {name} is longer than {limit} characters")
            if value is not None and "\x00" in value:
                # PostgreSQL text cannot hold it: refused here, the event alone fails, and
                # never the batch it would have joined (nor differently on SQLite).
                raise AuditError(f"event {name} holds a NUL character, which is not recorded")
        raw = event.payload if isinstance(event.payload, dict) else dict(event.payload)
        try:
            payload_json, payload = self._payload(raw)
        except NotCanonicalisable as exc:
            raise AuditError(f"event payload refused: {exc}") from exc
        obj_namespace, obj_kind = object_columns(event.subject)
        return PreparedEvent(
            obj_namespace=obj_namespace,
            obj_kind=obj_kind,
            kind=event.kind,
            actor=event.actor,
            subject=event.subject,
            source=event.source,
            commit=event.commit,
            payload_json=payload_json,
            payload=payload,
        )

    def _payload(self, raw: Mapping[str, Any]) -> tuple[str, Any]:
        """The payload redacted, as canonical JSON and as the object that JSON decodes to
        (never shared with the caller's)."""
        try:
            # One walk checks that the fast encoder applies, looks for Secrets and copies.
            copied, holds_secret = plain_copy(raw, ("kind", "Secret"))
        except NotSimple:
            return self._payload_general(raw)
        if holds_secret:
            return self._payload_general(raw)
        # Replacing a path puts a digest (a string) in its place: still simple.
        payload = redact_paths(copied, self._sensitive, digester=self.secret_digester)
        return encode_simple(payload).decode("utf-8"), payload

    def _payload_general(self, raw: Mapping[str, Any]) -> tuple[str, Any]:
        """`_payload` for any payload: redacted, canonicalised, decoded again."""
        payload = redact(raw, self._sensitive, digester=self.secret_digester)
        payload_json = chain.canonical_payload(payload)
        return payload_json, json.loads(payload_json)

    @staticmethod
    def _head(connection: Connection) -> tuple[int, str]:
        row = connection.execute(
            select(EventRow.seq, EventRow.hash).order_by(EventRow.seq.desc()).limit(1)
        ).first()
        if row is None:
            return (0, GENESIS_HASH)
        seq, digest = row
        if type(seq) is not int or type(digest) is not str:
            raise CorruptRecord(
                f"the last row of the audit log is not a record: its sequence number is "
                f"{chain.shown(seq)}",
                seq=seq if type(seq) is int else 0,
            )
        return (seq, digest)

    # -- reading -----------------------------------------------------------------------------

    def head(self) -> tuple[int, str]:
        """The last sequence number and its hash; `(0, 64 zeros)` for an empty log."""
        with self.translated(), self.engine.connect() as connection:
            return self._head(connection)

    def count(self) -> int:
        with self.translated(), self.engine.connect() as connection:
            return int(connection.execute(select(func.count()).select_from(EventRow)).scalar_one())

    def count_numbered(self, *, upto: int) -> int:
        """How many rows have an integer seq no greater than `upto` (those below 1, which no
        record has, included)."""
        statement = select(func.count()).select_from(EventRow).where(EventRow.seq <= upto)
        if not self._postgresql:
            # SQLite may hold a real or text seq, which verification counts apart.
            statement = statement.where(func.typeof(EventRow.seq) == "integer")
        with self.translated(), self.engine.connect() as connection:
            return int(connection.execute(statement).scalar_one())

    def get(self, seq: int) -> Record | None:
        with self.translated(), self.engine.connect() as connection:
            row = connection.execute(select(EventRow).where(EventRow.seq == seq)).first()
        return None if row is None else _record(row._mapping)

    def query(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        kinds: Iterable[str] = (),
        source: str | None = None,
        subject: str | None = None,
        actor: str | None = None,
        commit: str | None = None,
        namespace: str | None = None,
        object_kind: str | None = None,
        after: int | None = None,
        limit: int = 100,
        order: Literal["asc", "desc"] = "asc",
    ) -> Page:
        """Records matching every given filter, a page at a time (keyset pagination on seq)."""
        if not 1 <= limit <= 10_000:
            raise AuditError("limit must be between 1 and 10000")
        statement: Select[Any] = select(EventRow)
        if since is not None or until is not None:
            span = self._seq_span(since, until)
            if span is None:
                return Page(records=[], next_cursor=None)
            # Records are ordered by seq, not time: bound the seq range the period spans
            # (exactly, from the time index) so that paging walks the primary key instead of
            # sorting the whole period. The time conditions stay, in case the clock stepped back.
            statement = statement.where(EventRow.seq >= span[0], EventRow.seq <= span[1])
        if since is not None:
            statement = statement.where(EventRow.time >= since)
        if until is not None:
            statement = statement.where(EventRow.time < until)
        kind_list = list(kinds)
        if kind_list:
            statement = statement.where(EventRow.kind.in_(kind_list))
        for column, value in (
            (EventRow.source, source),
            (EventRow.subject, subject),
            (EventRow.actor, actor),
            (EventRow.commit, commit),
            (EventRow.obj_namespace, namespace),
            (EventRow.obj_kind, object_kind),
        ):
            if value is not None:
                statement = statement.where(column == value)
        key = EventRow.seq.asc() if order == "asc" else EventRow.seq.desc()
        statement = statement.order_by(key).limit(limit + 1)
        # The object columns are derived from the subject but not hashed: a row whose column
        # was edited to match is left out here (verification names it), and the next rows
        # are read until the page is full.
        agrees = _agrees_with_subject(namespace, object_kind)
        found: list[Record] = []
        with self.translated(), self.engine.connect() as connection:
            while True:
                page = statement
                if after is not None:
                    page = page.where(
                        EventRow.seq > after if order == "asc" else EventRow.seq < after
                    )
                rows = connection.execute(page).all()
                batch = [_record(row._mapping) for row in rows]
                found += [record for record in batch if agrees(record)]
                if len(rows) <= limit or len(found) > limit:
                    break
                after = batch[-1].seq
        records = found[:limit]
        cursor = records[-1].seq if len(found) > limit else None
        return Page(records=records, next_cursor=cursor)

    def _seq_span(self, since: datetime | None, until: datetime | None) -> tuple[int, int] | None:
        """The lowest and highest seq of the records written in [since, until), or None."""
        statement = select(func.min(EventRow.seq), func.max(EventRow.seq))
        if since is not None:
            statement = statement.where(EventRow.time >= since)
        if until is not None:
            statement = statement.where(EventRow.time < until)
        with self.translated(), self.engine.connect() as connection:
            low, high = connection.execute(statement).one()
        return None if low is None else (int(low), int(high))

    def iter_raw(
        self,
        *,
        first: int | None = None,
        last: int | None = None,
        chunk: int = 20_000,
        objects: bool = False,
        lenient_text: bool = False,
    ) -> Iterator[tuple[Any, ...]]:
        """Stored rows with `first <= seq <= last` in sequence order, as raw tuples.

        Verification reads millions of rows, so this bypasses result processing: the time
        comes back as the exact text that was hashed, formatted by the database itself.
        Without `last`, rows whose seq SQLite holds as text, a blob or a real beyond any
        integer (which it sorts after every integer) come last, so that verification sees them.
        Without `first` there is no lower bound: rows below 1 (which no record may have) come
        first, so that verification sees them too. With `objects`, each row ends with the
        `obj_namespace` and `obj_kind` columns. With `lenient_text`, SQLite text that is not
        valid UTF-8 (which only an edit outside the store writes, and which the driver
        refuses to read) comes back as bytes, for verification to name its record.
        """
        extra = ", obj_namespace, obj_kind" if objects else ""
        # The smallest 64-bit seq has no integer before it: no lower bound then.
        after = (first - 1) if first is not None and first > -(2**63) else None
        if self.engine.dialect.name == "postgresql":
            yield from self._copy_raw(after, last, extra)
            return
        columns = (
            f"seq, time, kind, actor, subject, source, commit_sha, payload, prev_hash, hash{extra}"
        )
        with self.translated(), self.engine.connect() as connection:
            # The driver's own cursor: plain tuples, no per-row result objects.
            raw: Any = connection.connection.dbapi_connection
            cursor = raw.cursor()
            text_factory = raw.text_factory
            try:
                while True:
                    conditions, parameters = [], []
                    if after is not None:
                        conditions.append("seq > ?")
                        parameters.append(after)
                    if last is not None:
                        conditions.append("seq <= ?")
                        parameters.append(last)
                    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
                    statement = (
                        f"SELECT {columns} FROM audit_events{where} ORDER BY seq LIMIT {int(chunk)}"
                    )
                    try:
                        rows = cursor.execute(statement, parameters).fetchall()
                    except sqlite3.OperationalError as exc:
                        if not lenient_text or "decode" not in str(exc):
                            raise
                        # This chunk again, the undecodable text as bytes.
                        raw.text_factory = _text_or_bytes
                        try:
                            rows = cursor.execute(statement, parameters).fetchall()
                        finally:
                            raw.text_factory = text_factory
                    if not rows:
                        return
                    yield from rows
                    # The stored value, whatever its type: SQLite orders mixed types too.
                    after = rows[-1][0]
            finally:
                cursor.close()

    def _copy_raw(
        self, after: int | None, upper: int | None, extra: str
    ) -> Iterator[tuple[Any, ...]]:
        # COPY streams rows about three times faster than a cursor on PostgreSQL.
        conditions = []
        if after is not None:
            conditions.append(f"seq > {int(after)}")
        if upper is not None:
            conditions.append(f"seq <= {int(upper)}")
        where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
        # `YYYY` drops the era: a time moved to `2026-11-01 BC` would print as its AD twin
        # and still hash alike. The prefix makes such a text one no record can have.
        query = (
            "COPY (SELECT seq, CASE WHEN time < TIMESTAMPTZ '0001-01-01 00:00:00+00' "
            "THEN 'BC ' ELSE '' END || to_char(time AT TIME ZONE 'UTC', "
            """'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'), kind, actor, subject, source, commit_sha, """
            f"payload, prev_hash, hash{extra} FROM audit_events{where} ORDER BY seq) TO STDOUT"
        )
        with self.translated(), self.engine.connect() as connection:
            raw: Any = connection.connection.dbapi_connection
            with raw.cursor() as cursor, cursor.copy(query) as copy:
                copy.set_types(["int8"] + ["text"] * (9 + extra.count(",")))
                yield from copy.rows()

    # -- checkpoints -------------------------------------------------------------------------

    def checkpoint(self, signer: Signer) -> Checkpoint:
        """Sign the current head now and store the checkpoint."""
        with self._locked() as connection:
            seq, head_hash = self._head(connection)
            last_id = connection.execute(select(func.max(CheckpointRow.id))).scalar()
            if type(last_id) is int and last_id >= _MAX_ID:
                raise AuditError(
                    f"cannot number a new checkpoint: checkpoint {last_id} holds the highest id "
                    "there is, which only a row put there outside gatekeeper can; run "
                    "`gatekeeper audit verify`"
                )
            moment = chain.as_utc(self._clock())
            key = signer.key_id
            message = checkpoint_message(
                seq=seq, head_hash=head_hash, time=chain.format_time(moment), key=key
            )
            checkpoint = Checkpoint(
                id=int(last_id or 0) + 1,
                seq=seq,
                head_hash=head_hash,
                time=moment,
                key_id=key,
                signature=signer.sign(message),
            )
            connection.execute(
                insert(CheckpointRow),
                [
                    {
                        "id": checkpoint.id,
                        "seq": checkpoint.seq,
                        "head_hash": checkpoint.head_hash,
                        "time": checkpoint.time,
                        "key_id": checkpoint.key_id,
                        "signature": checkpoint.signature,
                    }
                ],
            )
        return checkpoint

    def checkpoints(self) -> list[Checkpoint]:
        """Every checkpoint, oldest first; `CorruptCheckpoint` when one cannot be read back."""
        found, damaged = self.checkpoints_and_damage()
        if damaged:
            raise damaged[0]
        return found

    def checkpoints_and_damage(self) -> tuple[list[Checkpoint], list[CorruptCheckpoint]]:
        """The checkpoints that read back as ones, and why each of the others does not."""
        with self.translated(), self.engine.connect() as connection:
            rows = connection.execute(select(CheckpointRow).order_by(CheckpointRow.id)).all()
        found: list[Checkpoint] = []
        damaged: list[CorruptCheckpoint] = []
        for row in rows:
            try:
                found.append(_checkpoint(row))
            except CorruptCheckpoint as exc:
                damaged.append(exc)
        return found, damaged

    def covering_checkpoint(self, seq: int) -> Checkpoint | None:
        """The first checkpoint at or after `seq`: the one that vouches for that record."""
        statement = (
            select(CheckpointRow)
            .where(CheckpointRow.seq >= seq)
            .order_by(CheckpointRow.seq, CheckpointRow.id)
            .limit(1)
        )
        with self.translated(), self.engine.connect() as connection:
            row = connection.execute(statement).first()
        return None if row is None else _checkpoint(row)

    def daily_counts(self, *, after: int = 0) -> tuple[list[tuple[str, str, int]], int]:
        """(UTC day, kind, records) for records after seq `after`, and the last seq counted.

        Callers keep the totals and ask again with the last seq, so a large log is counted
        once and then only what was appended.
        """
        if self._postgresql:
            day = func.to_char(func.timezone("UTC", EventRow.time), "YYYY-MM-DD")
        else:
            day = func.substr(EventRow.time, 1, 10)
        head, _ = self.head()
        statement = (
            select(day, EventRow.kind, func.count())
            .where(EventRow.seq > after, EventRow.seq <= head)
            .group_by(day, EventRow.kind)
        )
        with self.translated(), self.engine.connect() as connection:
            rows = connection.execute(statement).all()
        return [(str(row[0]), str(row[1]), int(row[2])) for row in rows], head

    def source_summaries(self) -> list[tuple[str, int, int]]:
        """(source, records, last seq) for every source the log names, by name."""
        statement = (
            select(EventRow.source, func.count(), func.max(EventRow.seq))
            .where(EventRow.source.is_not(None))
            .group_by(EventRow.source)
            .order_by(EventRow.source)
        )
        with self.translated(), self.engine.connect() as connection:
            rows = connection.execute(statement).all()
        for _source, _count, last in rows:
            if type(last) is not int:
                raise CorruptRecord(
                    f"a row of the audit log is not a record: its sequence number is "
                    f"{chain.shown(last)}",
                    seq=0,
                )
        return [(str(row[0]), int(row[1]), int(row[2])) for row in rows]

    def last_checkpoint(self) -> Checkpoint | None:
        """The newest checkpoint, or None before the first."""
        statement = select(CheckpointRow).order_by(CheckpointRow.id.desc()).limit(1)
        with self.translated(), self.engine.connect() as connection:
            row = connection.execute(statement).first()
        return None if row is None else _checkpoint(row)

    def append_locked(self, connection: Connection, event: NewEvent) -> Record:
        """Append `event` inside a transaction of `locked()`, so that whatever else that
        transaction writes is committed with it, or nothing is."""
        prepared = self.prepare(event)
        seq, prev_hash = self._head(connection)
        _, (record,) = self._seal([prepared], seq, prev_hash)
        connection.execute(
            insert(EVENTS),
            [
                {
                    "seq": record.seq,
                    "time": record.time,
                    "kind": record.kind,
                    "actor": record.actor,
                    "subject": record.subject,
                    "source": record.source,
                    "commit_sha": record.commit,
                    "payload": prepared.payload_json,
                    "prev_hash": record.prev_hash,
                    "hash": record.hash,
                    "obj_namespace": prepared.obj_namespace,
                    "obj_kind": prepared.obj_kind,
                }
            ],
        )
        return record

    def locked(self) -> contextlib.AbstractContextManager[Connection]:
        """A write transaction holding the chain's lock (see `append_locked`)."""
        return self._locked()

    @contextmanager
    def _locked(self) -> Iterator[Connection]:
        """A write transaction holding the chain's lock; commits on leaving."""
        with self.translated(), self.engine.connect() as plain:
            connection = writer(plain)
            with connection.begin():
                lock_chain(connection)
                yield connection

    @contextmanager
    def translated(self) -> Iterator[None]:
        """Map database errors onto the audit error tree, once, here."""
        try:
            yield
        except GatekeeperError:
            raise
        except DBAPIError as exc:
            raise translate(exc) from exc
        except SQLAlchemyError as exc:
            raise StoreUnavailable(f"audit database error: {exc}") from exc
        except self.engine.dialect.loaded_dbapi.Error as exc:
            # From the driver's own cursor (`iter_raw`), which SQLAlchemy does not wrap.
            raise translate(exc) from exc


@functools.lru_cache(maxsize=8192)
def object_columns(subject: str) -> tuple[str | None, str | None]:
    """`obj_namespace` and `obj_kind` as the store derives them from a record's subject."""
    key = ObjectKey.parse(subject)
    return (None, None) if key is None else (key.namespace, key.kind)


def _agrees_with_subject(
    namespace: str | None, object_kind: str | None
) -> Callable[[Record], bool]:
    if namespace is None and object_kind is None:
        return lambda _record: True

    def agrees(record: Record) -> bool:
        derived_namespace, derived_kind = object_columns(record.subject)
        return (namespace is None or derived_namespace == namespace) and (
            object_kind is None or derived_kind == object_kind
        )

    return agrees


def _text_or_bytes(value: bytes) -> str | bytes:
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value


def _checkpoint(row: Any) -> Checkpoint:
    """A checkpoint read back; `CorruptCheckpoint` for a row that cannot be one."""
    fields = (row.id, row.seq, row.head_hash, row.time, row.key_id, row.signature)
    types = (int, int, str, datetime, str, str)
    names = ("id", "seq", "head_hash", "time", "key_id", "signature")
    for name, value, kind in zip(names, fields, types, strict=True):
        if not isinstance(value, kind) or isinstance(value, bool):
            expected = {int: "an integer", str: "text", datetime: "a time"}[kind]
            raise CorruptCheckpoint(
                f"checkpoint {chain.shown(row.id)} is damaged: its {name} "
                f"{chain.shown(value)} is not {expected}",
                seq=row.seq if type(row.seq) is int else 0,
                row=str(row.id),
            )
    return Checkpoint(
        id=row.id,
        seq=row.seq,
        head_hash=row.head_hash,
        time=row.time,
        key_id=row.key_id,
        signature=row.signature,
    )


def _record(mapping: Any) -> Record:
    """A record read back; `CorruptRecord` for a row that cannot be one."""
    seq = mapping["seq"]
    if type(seq) is not int:
        raise CorruptRecord(
            f"a row of the audit log is not a record: its sequence number is {chain.shown(seq)}",
            seq=0,
        )
    problem = _field_problem(mapping)
    payload: Any = None
    if problem is None:
        try:
            payload = json.loads(mapping["payload"])
        except (ValueError, TypeError, RecursionError):
            problem = "its payload is not JSON"
        else:
            if type(payload) is not dict:
                problem = f"its payload is a JSON {type(payload).__name__}, not an object"
    if problem is not None:
        raise CorruptRecord(f"record {seq} is damaged: {problem}", seq=seq)
    return Record(
        seq=seq,
        time=mapping["time"],
        kind=mapping["kind"],
        actor=mapping["actor"],
        subject=mapping["subject"],
        source=mapping["source"],
        commit=mapping["commit_sha"],
        payload=payload,
        prev_hash=mapping["prev_hash"],
        hash=mapping["hash"],
    )


def _field_problem(mapping: Any) -> str | None:
    if not isinstance(mapping["time"], datetime):
        return f"its time {chain.shown(mapping['time'])} is not a time"
    for name in ("kind", "actor", "subject", "prev_hash", "hash", "source", "commit_sha"):
        value = mapping[name]
        if type(value) is not str and not (value is None and name in ("source", "commit_sha")):
            return f"its {name} is a {type(value).__name__}, not text"
    return None
