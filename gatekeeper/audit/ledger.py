"""The provenance ledger: which commits were verified, and what each says every object is.

This is the contract between the reconciler and the admission webhook (DESIGN section 5).
Before applying, the reconciler records the verified commit and the desired manifest of every
object; the webhook admits a change to a managed object only when it matches such a record.
Rows are immutable (triggers refuse UPDATE and DELETE), so lookups are cached forever.

Every write is vouched for by the audit chain: the rows and a `ledger.recorded` record that
names each of them with its digest are committed in one transaction, and each row keeps that
record's seq. `audit verify` holds every row against its record; lookups here refuse a row
its record does not vouch for, so a row slipped into the table is not trusted either. Rows
written before vouching began were pinned by the migration that introduced it (a
`ledger.legacy` record) and are trusted only while they still match that pin.
"""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, insert, select

from gatekeeper.audit import chain
from gatekeeper.audit import ledger_rows as rows_
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.redact import secret_as_stored
from gatekeeper.audit.schema import DesiredObjectRow, EventRow, VerifiedCommitRow
from gatekeeper.audit.store import AuditStore
from gatekeeper.canonical import canonical_json
from gatekeeper.kube.contract import DesiredObject, VerifiedCommit
from gatekeeper.kube.objects import ObjectKey

log = logging.getLogger(__name__)
_TABLES: dict[str, type[VerifiedCommitRow] | type[DesiredObjectRow]] = {
    rows_.COMMITS: VerifiedCommitRow,
    rows_.OBJECTS: DesiredObjectRow,
}
_CHUNK = 1000


class Ledger:
    """Reads and writes the provenance ledger tables of an audit store's database."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store
        self._commits: dict[tuple[str, str], VerifiedCommit] = {}
        self._objects: dict[tuple[str, str, ObjectKey], tuple[str, str, Mapping[str, Any]]] = {}
        self._vouchers: dict[tuple[int, str], dict[str, str]] = {}
        self._legacy: dict[tuple[str, str, str], tuple[int, str]] | None = None
        self._legacy_groups: dict[tuple[str, str, str], bool] = {}
        self._lock = threading.Lock()

    # -- writing -----------------------------------------------------------------------------

    def record_commit(
        self,
        source: str,
        commit: str,
        *,
        signer: str | None = None,
        key_id: str | None = None,
        format: str | None = None,
    ) -> None:
        """Note that `commit` was verified for `source`; recording it twice is harmless."""
        row = {
            "source": source,
            "commit_sha": commit,
            "verified_at": datetime.now(UTC),
            "signer": signer,
            "key_id": key_id,
            "format": format,
        }
        self._write(rows_.COMMITS, source, commit, [row])

    def record_desired(self, source: str, commit: str, objects: Iterable[DesiredObject]) -> int:
        """Record the desired manifests of one commit; returns how many rows were given."""
        now = datetime.now(UTC)
        digester = self._store.secret_digester
        rows = [
            {
                "source": source,
                "commit_sha": commit,
                "api_group": item.key.api_group,
                "kind": item.key.kind,
                "namespace": item.key.namespace,
                "name": item.key.name,
                "path": item.path,
                "digest": item.digest,
                # Secret values never enter the store: the ledger keeps their keyed digests.
                "manifest": canonical_json(secret_as_stored(item.manifest, digester)).decode(
                    "utf-8"
                ),
                "recorded_at": now,
            }
            for item in objects
        ]
        for start in range(0, len(rows), _CHUNK):
            self._write(rows_.OBJECTS, source, commit, rows[start : start + _CHUNK])
        return len(rows)

    def _write(self, table: str, source: str, commit: str, rows: list[dict[str, Any]]) -> None:
        """Insert the rows not there yet and the record vouching for them, in one transaction
        under the chain's lock; rows already recorded keep their own record."""
        if not rows:
            return
        model = _TABLES[table]
        with self._store.locked() as connection:
            existing = {
                rows_.row_name(table, dict(found))
                for found in connection.execute(
                    select(model.__table__).where(
                        model.source == source,
                        model.commit == commit,
                    )
                ).mappings()
            }
            fresh = [row for row in rows if rows_.row_name(table, row) not in existing]
            if not fresh:
                return
            record = self._store.append_locked(
                connection,
                NewEvent(
                    kind=rows_.LEDGER_RECORDED,
                    actor=rows_.ACTOR,
                    subject=f"source/{source}",
                    source=source,
                    commit=commit,
                    payload=rows_.vouch_payload(table, fresh),
                ),
            )
            connection.execute(insert(model), [{**row, "vouch_seq": record.seq} for row in fresh])

    # -- reading -----------------------------------------------------------------------------

    def as_stored(self, obj: Mapping[str, Any]) -> Any:
        """`obj` redacted as the ledger keeps manifests: Secret values as keyed digests."""
        return secret_as_stored(obj, self._store.secret_digester)

    def verified_commit(self, source: str, commit: str) -> VerifiedCommit | None:
        cached = self._commits.get((source, commit))
        if cached is not None:
            return cached
        statement = select(VerifiedCommitRow.__table__).where(
            VerifiedCommitRow.source == source, VerifiedCommitRow.commit == commit
        )
        with self._store.translated(), self._store.engine.connect() as connection:
            row = connection.execute(statement).mappings().first()
            if row is None or not self._vouched(connection, rows_.COMMITS, row):
                return None
        found = VerifiedCommit(
            source=row["source"],
            commit=row["commit_sha"],
            verified_at=row["verified_at"],
            signer=row["signer"],
            key_id=row["key_id"],
            format=row["format"],
        )
        with self._lock:
            self._commits[(source, commit)] = found
        return found

    def desired(
        self, source: str, commit: str, key: ObjectKey
    ) -> tuple[str, str, Mapping[str, Any]] | None:
        """(digest, path, manifest) recorded for the object at that commit, or None.

        The digest is of the manifest as rendered; the manifest is as stored, with Secret
        values replaced by keyed digests (see `as_stored`).
        """
        cache_key = (source, commit, key)
        cached = self._objects.get(cache_key)
        if cached is not None:
            return cached
        statement = select(DesiredObjectRow.__table__).where(
            DesiredObjectRow.source == source,
            DesiredObjectRow.commit == commit,
            DesiredObjectRow.api_group == key.api_group,
            DesiredObjectRow.kind == key.kind,
            DesiredObjectRow.namespace == key.namespace,
            DesiredObjectRow.name == key.name,
        )
        with self._store.translated(), self._store.engine.connect() as connection:
            row = connection.execute(statement).mappings().first()
            if row is None or not self._vouched(connection, rows_.OBJECTS, row):
                return None
        found = (str(row["digest"]), str(row["path"]), json.loads(row["manifest"]))
        with self._lock:
            self._objects[cache_key] = found
        return found

    def digests(self, source: str, commit: str) -> dict[ObjectKey, str]:
        """The digest recorded for every object of `source` at `commit`, in one query: what a
        rendering of that commit must match to be the one its gates passed. (A row its record
        does not vouch for is listed too: the comparison only looks for differences, and
        `desired` still refuses such a row.)"""
        columns = DesiredObjectRow.__table__.c
        statement = select(
            columns.api_group, columns.kind, columns.namespace, columns.name, columns.digest
        ).where(DesiredObjectRow.source == source, DesiredObjectRow.commit == commit)
        with self._store.translated(), self._store.engine.connect() as connection:
            found = connection.execute(statement).all()
        return {
            ObjectKey(str(group), str(kind), str(namespace), str(name)): str(digest)
            for group, kind, namespace, name, digest in found
        }

    # -- vouching ----------------------------------------------------------------------------

    def _vouched(self, connection: Connection, table: str, row: Mapping[Any, Any]) -> bool:
        """Whether the chain vouches for `row`: its record names it with this digest, or, for
        a row older than vouching, its commit's rows still match the migration's pin."""
        name = rows_.row_name(table, row)
        seq = row["vouch_seq"]
        if seq is None:
            trusted = self._legacy_trusted(connection, table, row["source"], row["commit_sha"])
        else:
            vouched = self._voucher(connection, int(seq), table)
            trusted = vouched.get(name) == rows_.row_digest(table, row)
        if not trusted:
            log.error(
                "%s row %s is not vouched for by the audit chain (record %s); it is not "
                "trusted: run `gatekeeper audit verify`",
                table,
                name,
                "none" if seq is None else seq,
            )
        return trusted

    def _voucher(self, connection: Connection, seq: int, table: str) -> dict[str, str]:
        cached = self._vouchers.get((seq, table))
        if cached is not None:
            return cached
        payload = _chained_payload(connection, seq, rows_.LEDGER_RECORDED)
        vouched = {} if payload is None else rows_.vouched_rows(payload, table)
        with self._lock:
            self._vouchers[(seq, table)] = vouched
        return vouched

    def _legacy_trusted(self, connection: Connection, table: str, source: str, commit: str) -> bool:
        group = (table, source, commit)
        cached = self._legacy_groups.get(group)
        if cached is not None:
            return cached
        if self._legacy is None:
            first = connection.execute(
                select(EventRow.seq)
                .where(EventRow.kind == rows_.LEDGER_LEGACY, EventRow.seq >= 1)
                .order_by(EventRow.seq)
                .limit(1)
            ).scalar()
            payload = (
                None
                if first is None
                else _chained_payload(connection, int(first), rows_.LEDGER_LEGACY)
            )
            self._legacy = {} if payload is None else rows_.legacy_groups(payload)
        pinned = self._legacy.get(group)
        trusted = False
        if pinned is not None:
            model = _TABLES[table]
            digests = [
                rows_.row_digest(table, found)
                for found in connection.execute(
                    select(model.__table__).where(
                        model.source == source, model.commit == commit, model.vouch_seq.is_(None)
                    )
                ).mappings()
            ]
            trusted = pinned == (len(digests), rows_.group_digest(digests))
        with self._lock:
            self._legacy_groups[group] = trusted
        return trusted


def _chained_payload(connection: Connection, seq: int, kind: str) -> Any:
    """The payload of record `seq` when it is of `kind` and still hashes to its stored hash;
    else None. (Whether the chain links through it is `audit verify`'s to say.) Records are
    numbered from 1: a row below is no record and vouches for nothing."""
    if seq < 1:
        return None
    found = (
        connection.execute(select(EventRow.__table__).where(EventRow.seq == seq)).mappings().first()
    )
    if found is None or found["kind"] != kind or not isinstance(found["time"], datetime):
        return None
    try:
        computed = chain.record_hash(
            seq=found["seq"],
            time=chain.format_time(found["time"]),
            kind=found["kind"],
            actor=found["actor"],
            subject=found["subject"],
            source=found["source"],
            commit=found["commit_sha"],
            payload_json=found["payload"],
            prev_hash=found["prev_hash"],
        )
        payload = json.loads(found["payload"]) if computed == found["hash"] else None
    except (TypeError, ValueError, RecursionError):
        return None  # a field not of its type: no record vouches through it
    return payload if isinstance(payload, dict) else None
