"""Migrations go up and down on both engines, and the schema refuses UPDATE and DELETE."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.errors import SchemaMissing
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.signing import Signer
from gatekeeper.audit.store import AuditStore

pytestmark = pytest.mark.integration

TABLES = ("audit_events", "audit_checkpoints", "verified_commits", "desired_objects")


def test_upgrade_creates_the_tables_and_downgrade_removes_them(engine: Engine) -> None:
    migrate.upgrade(engine)
    assert migrate.current_revision(engine) == migrate.head_revision()
    assert set(TABLES) <= set(inspect(engine).get_table_names())
    migrate.downgrade(engine, "base")
    assert migrate.current_revision(engine) is None
    assert not set(TABLES) & set(inspect(engine).get_table_names())
    migrate.upgrade(engine)
    assert AuditStore(engine).append(NewEvent(kind="sync.applied", actor="a")).seq == 1


def test_a_store_on_an_unmigrated_database_says_to_upgrade(engine: Engine) -> None:
    with pytest.raises(SchemaMissing, match="gatekeeper db upgrade"):
        AuditStore(engine).append(NewEvent(kind="sync.applied", actor="a"))
    with pytest.raises(SchemaMissing, match="db upgrade"):
        migrate.require_current(engine)


@pytest.mark.parametrize("table", ["audit_events", "audit_checkpoints"])
@pytest.mark.parametrize("statement", ["UPDATE {table} SET seq = seq + 100", "DELETE FROM {table}"])
def test_the_database_itself_refuses_update_and_delete(
    store: AuditStore, table: str, statement: str
) -> None:
    store.append(NewEvent(kind="sync.applied", actor="a"))
    store.checkpoint(Signer(Ed25519PrivateKey.generate()))
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as connection:
        connection.execute(text(statement.format(table=table)))
    assert store.count() == 1
    assert len(store.checkpoints()) == 1


_REWRITES = {
    "audit_events": (
        "{verb} INTO audit_events (seq, time, kind, actor, subject, source, commit_sha, payload, "
        "prev_hash, hash) SELECT seq, time, kind, 'mallory', subject, source, commit_sha, "
        "payload, prev_hash, hash FROM audit_events WHERE seq = 1"
    ),
    "audit_checkpoints": (
        "{verb} INTO audit_checkpoints SELECT id, seq, head_hash, time, key_id, 'AAAA' "
        "FROM audit_checkpoints WHERE id = 1"
    ),
    "verified_commits": (
        "{verb} INTO verified_commits (source, commit_sha, verified_at, signer) "
        "SELECT source, commit_sha, verified_at, 'mallory' FROM verified_commits"
    ),
    "desired_objects": (
        "{verb} INTO desired_objects (source, commit_sha, api_group, kind, namespace, name, "
        "path, digest, manifest, recorded_at) SELECT source, commit_sha, api_group, kind, "
        "namespace, name, path, 'sha256:forged', manifest, recorded_at FROM desired_objects"
    ),
}


@pytest.mark.parametrize("table", sorted(_REWRITES))
@pytest.mark.parametrize("verb", ["INSERT OR REPLACE", "REPLACE"])
def test_sqlite_refuses_a_rewrite_by_replace_as_well(
    sqlite_store: AuditStore, table: str, verb: str
) -> None:
    store = sqlite_store
    store.append(NewEvent(kind="sync.applied", actor="a"))
    store.checkpoint(Signer(Ed25519PrivateKey.generate()))
    with store.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO verified_commits (source, commit_sha, verified_at) "
                "VALUES ('apps', 'abc', '2026-01-01T00:00:00.000000Z')"
            )
        )
        connection.execute(
            text(
                "INSERT INTO desired_objects (source, commit_sha, api_group, kind, namespace, "
                "name, path, digest, manifest, recorded_at) VALUES ('apps', 'abc', '', "
                "'ConfigMap', 'shop', 'web', 'web.yaml', 'sha256:real', '{}', "
                "'2026-01-01T00:00:00.000000Z')"
            )
        )
        before = [
            connection.execute(text(f"SELECT * FROM {name}")).all() for name in sorted(_REWRITES)
        ]
    with (
        pytest.raises(DBAPIError, match="append-only: REPLACE refused"),
        store.engine.begin() as connection,
    ):
        connection.execute(text(_REWRITES[table].format(verb=verb)))
    with store.engine.begin() as connection:
        after = [
            connection.execute(text(f"SELECT * FROM {name}")).all() for name in sorted(_REWRITES)
        ]
    assert after == before


def test_the_replace_guard_goes_with_a_downgrade(sqlite_store: AuditStore) -> None:
    migrate.downgrade(sqlite_store.engine, "0005")
    with sqlite_store.engine.connect() as connection:
        names = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        ).scalars()
        assert not [name for name in names if name.endswith("_no_replace")]
    migrate.upgrade(sqlite_store.engine)
    with sqlite_store.engine.connect() as connection:
        names = connection.execute(
            text("SELECT name FROM sqlite_master WHERE type = 'trigger'")
        ).scalars()
        assert len([name for name in names if name.endswith("_no_replace")]) == 4


@pytest.fixture
def sqlite_store(tmp_path: Path) -> AuditStore:
    engine = create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate.upgrade(engine)
    return AuditStore(engine)


@pytest.mark.postgres
def test_truncate_is_refused_on_postgresql(postgres_url: str) -> None:
    engine = create_database_engine(postgres_url)
    migrate.upgrade(engine)
    store = AuditStore(engine)
    store.append(NewEvent(kind="sync.applied", actor="a"))
    with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as connection:
        connection.execute(text("TRUNCATE audit_events"))
    assert store.count() == 1
    engine.dispose()


def test_records_written_before_revision_0003_get_their_object_columns_and_stay_append_only(
    engine: Engine,
) -> None:
    migrate.upgrade(engine, "0002")
    rows = [
        (1, "apps/Deployment/shop/web"),
        (2, "ConfigMap/shop/settings"),
        (3, "source/apps"),
        (4, "rbac.authorization.k8s.io/ClusterRole/viewer"),
    ]
    with engine.begin() as connection:
        for seq, subject in rows:
            connection.execute(
                text(
                    "INSERT INTO audit_events (seq, time, kind, actor, subject, payload, "
                    "prev_hash, hash) VALUES (:seq, :time, 'drift.detected', 'a', :subject, "
                    "'{}', :prev, :hash)"
                ),
                {
                    "seq": seq,
                    "time": "2026-11-30T10:00:00.000000Z",
                    "subject": subject,
                    "prev": "0" * 64,
                    "hash": f"{seq:064d}",
                },
            )

    migrate.upgrade(engine)

    with engine.connect() as connection:
        found = connection.execute(
            text("SELECT seq, obj_namespace, obj_kind FROM audit_events ORDER BY seq")
        ).all()
    assert [tuple(row) for row in found] == [
        (1, "shop", "Deployment"),
        (2, "shop", "ConfigMap"),
        (3, None, None),
        (4, "", "ClusterRole"),
    ]
    with pytest.raises(DBAPIError, match="append-only"), engine.begin() as connection:
        connection.execute(text("UPDATE audit_events SET obj_kind = 'Pod'"))
    page = AuditStore(engine).query(namespace="shop", object_kind="Deployment")
    assert [record.seq for record in page.records] == [1]
