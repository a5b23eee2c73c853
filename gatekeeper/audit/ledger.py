"""The provenance ledger: which commits were verified, and what each says every object is.

This is the contract between the reconciler and the admission webhook (DESIGN section 5).
Before applying, the reconciler records the verified commit and the desired manifest of every
object; the webhook admits a change to a managed object only when it matches such a record.
Rows are immutable (triggers refuse UPDATE and DELETE), so lookups are cached forever.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite

from gatekeeper.audit.redact import secret_as_stored
from gatekeeper.audit.schema import DesiredObjectRow, VerifiedCommitRow
from gatekeeper.audit.store import AuditStore
from gatekeeper.canonical import canonical_json
from gatekeeper.kube.contract import DesiredObject, VerifiedCommit
from gatekeeper.kube.objects import ObjectKey


class Ledger:
    """Reads and writes the provenance ledger tables of an audit store's database."""

    def __init__(self, store: AuditStore) -> None:
        self._store = store
        self._commits: dict[tuple[str, str], VerifiedCommit] = {}
        self._objects: dict[tuple[str, str, ObjectKey], tuple[str, str, Mapping[str, Any]]] = {}
        self._lock = threading.Lock()

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
        self._insert_ignoring_duplicates(VerifiedCommitRow, [row])

    def record_desired(self, source: str, commit: str, objects: Iterable[DesiredObject]) -> int:
        """Record the desired manifests of one commit; returns how many rows were given."""
        now = datetime.now(UTC)
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
                # Secret values never enter the store: the ledger keeps their digests.
                "manifest": canonical_json(secret_as_stored(item.manifest)).decode("utf-8"),
                "recorded_at": now,
            }
            for item in objects
        ]
        for start in range(0, len(rows), 1000):
            self._insert_ignoring_duplicates(DesiredObjectRow, rows[start : start + 1000])
        return len(rows)

    def verified_commit(self, source: str, commit: str) -> VerifiedCommit | None:
        cached = self._commits.get((source, commit))
        if cached is not None:
            return cached
        statement = select(VerifiedCommitRow).where(
            VerifiedCommitRow.source == source, VerifiedCommitRow.commit == commit
        )
        with self._store.translated(), self._store.engine.connect() as connection:
            row = connection.execute(statement).first()
        if row is None:
            return None
        found = VerifiedCommit(
            source=row.source,
            commit=row.commit_sha,
            verified_at=row.verified_at,
            signer=row.signer,
            key_id=row.key_id,
            format=row.format,
        )
        with self._lock:
            self._commits[(source, commit)] = found
        return found

    def desired(
        self, source: str, commit: str, key: ObjectKey
    ) -> tuple[str, str, Mapping[str, Any]] | None:
        """(digest, path, manifest) recorded for the object at that commit, or None.

        The digest is of the manifest as rendered; the manifest is as stored, with Secret
        values replaced by digests (see `secret_as_stored`).
        """
        cache_key = (source, commit, key)
        cached = self._objects.get(cache_key)
        if cached is not None:
            return cached
        statement = select(
            DesiredObjectRow.digest, DesiredObjectRow.path, DesiredObjectRow.manifest
        ).where(
            DesiredObjectRow.source == source,
            DesiredObjectRow.commit == commit,
            DesiredObjectRow.api_group == key.api_group,
            DesiredObjectRow.kind == key.kind,
            DesiredObjectRow.namespace == key.namespace,
            DesiredObjectRow.name == key.name,
        )
        with self._store.translated(), self._store.engine.connect() as connection:
            row = connection.execute(statement).first()
        if row is None:
            return None
        found = (str(row[0]), str(row[1]), json.loads(row[2]))
        with self._lock:
            self._objects[cache_key] = found
        return found

    def _insert_ignoring_duplicates(self, table: Any, rows: list[dict[str, Any]]) -> None:
        if not rows:
            return
        engine = self._store.engine
        dialect_insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
        statement = dialect_insert(table).on_conflict_do_nothing()
        with self._store.translated(), engine.begin() as connection:
            connection.execute(statement, rows)
