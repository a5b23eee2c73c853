"""The audit store on a real database: appends, durability, queries, redaction, checkpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count, pairwise

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlalchemy import text

from gatekeeper.audit.checkpoints import CheckpointScheduler
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.errors import AuditError
from gatekeeper.audit.events import GENESIS_HASH, NewEvent
from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.verify import verify_store

pytestmark = pytest.mark.integration


def test_the_first_record_links_to_the_genesis_hash(store: AuditStore) -> None:
    record = store.append(NewEvent(kind="sync.applied", actor="reconciler", subject="s"))
    assert record.seq == 1
    assert record.prev_hash == GENESIS_HASH
    assert store.head() == (1, record.hash)


def test_records_form_a_gap_free_linked_chain(store: AuditStore) -> None:
    records = [store.append(NewEvent(kind="sync.applied", actor=f"a{i}")) for i in range(5)]
    records += store.append_many([NewEvent(kind="drift.detected", actor="b") for _ in range(5)])
    assert [r.seq for r in records] == list(range(1, 11))
    for previous, current in pairwise(records):
        assert current.prev_hash == previous.hash
    assert verify_store(store, None).ok


def test_an_append_is_visible_to_another_connection_when_it_returns(database_url: str) -> None:
    from gatekeeper.audit import migrate

    writer_engine = create_database_engine(database_url)
    migrate.upgrade(writer_engine)
    reader_engine = create_database_engine(database_url)
    try:
        record = AuditStore(writer_engine).append(NewEvent(kind="sync.applied", actor="a"))
        assert AuditStore(reader_engine).get(record.seq) == record
    finally:
        writer_engine.dispose()
        reader_engine.dispose()


def test_a_stored_record_reads_back_exactly_as_returned(store: AuditStore) -> None:
    event = NewEvent(
        kind="admission.denied",
        actor="alice",
        subject="team-a/apps/v1/Deployment/web",
        source="apps",
        commit="a" * 40,
        payload={"reasons": ["not from Git"], "ratio": 0.5, "nested": {"é": [1, None, True]}},
    )
    record = store.append(event)
    assert store.get(record.seq) == record
    assert record.payload["nested"] == {"é": [1, None, True]}


def test_secret_values_never_reach_the_database(store: AuditStore) -> None:
    secret = {"apiVersion": "v1", "kind": "Secret", "data": {"password": "aHVudGVyMg=="}}
    store.append(NewEvent(kind="sync.applied", actor="a", payload={"object": secret}))
    with store.engine.connect() as connection:
        stored = connection.execute(text("SELECT payload FROM audit_events")).scalar_one()
    assert "aHVudGVyMg==" not in stored
    assert "sha256:" in stored


def test_configured_sensitive_fields_are_digested(migrated_engine: object) -> None:
    store = AuditStore(migrated_engine, sensitive_fields=["spec.token"])  # type: ignore[arg-type]
    record = store.append(
        NewEvent(kind="sync.applied", actor="a", payload={"spec": {"token": "x"}})
    )
    assert str(record.payload["spec"]["token"]).startswith("hmac-sha256:")


def test_bad_events_are_refused_before_touching_the_database(store: AuditStore) -> None:
    with pytest.raises(AuditError, match="dotted lower-case"):
        store.append(NewEvent(kind="Sync Applied", actor="a"))
    with pytest.raises(AuditError, match="longer than 256"):
        store.append(NewEvent(kind="sync.applied", actor="x" * 257))
    with pytest.raises(AuditError, match="canonical JSON"):
        store.append(NewEvent(kind="sync.applied", actor="a", payload={"n": float("nan")}))
    assert store.count() == 0


def test_queries_filter_and_page_with_a_keyset_cursor(store: AuditStore) -> None:
    ticks = count()
    start = datetime(2026, 11, 1, tzinfo=UTC)
    timed = AuditStore(store.engine, clock=lambda: start + timedelta(minutes=next(ticks)))
    for i in range(30):
        timed.append(
            NewEvent(
                kind="sync.applied" if i % 3 else "drift.detected",
                actor="reconciler" if i % 2 else "alice",
                subject=f"obj-{i % 5}",
                source="apps" if i < 20 else "infra",
            )
        )
    drift = timed.query(kinds=["drift.detected"], limit=100).records
    assert [r.seq for r in drift] == [1, 4, 7, 10, 13, 16, 19, 22, 25, 28]
    assert {r.actor for r in timed.query(actor="alice", limit=100).records} == {"alice"}
    assert len(timed.query(source="infra", limit=100).records) == 10
    assert all(r.subject == "obj-2" for r in timed.query(subject="obj-2", limit=100).records)
    window = timed.query(
        since=start + timedelta(minutes=5), until=start + timedelta(minutes=10), limit=100
    ).records
    assert [r.seq for r in window] == [6, 7, 8, 9, 10]

    seen, cursor = [], None
    while True:
        page = timed.query(source="apps", after=cursor, limit=7)
        seen += [r.seq for r in page.records]
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == list(range(1, 21))
    newest = timed.query(order="desc", limit=3)
    assert [r.seq for r in newest.records] == [30, 29, 28]
    assert [r.seq for r in timed.query(order="desc", after=28, limit=2).records] == [27, 26]


def test_a_checkpoint_signs_the_current_head(store: AuditStore) -> None:
    signer = Signer(Ed25519PrivateKey.generate())
    store.append_many([NewEvent(kind="sync.applied", actor="a") for _ in range(3)])
    checkpoint = store.checkpoint(signer)
    assert (checkpoint.seq, checkpoint.head_hash) == store.head()
    assert checkpoint.key_id == signer.key_id
    assert store.checkpoints() == [checkpoint]
    assert Verifier(signer.public_key).is_valid(checkpoint.message(), checkpoint.signature)


def test_the_scheduler_signs_only_when_the_log_grew(store: AuditStore) -> None:
    scheduler = CheckpointScheduler(store, Signer(Ed25519PrivateKey.generate()), interval=60)
    assert scheduler.tick() is None
    store.append(NewEvent(kind="sync.applied", actor="a"))
    first = scheduler.tick()
    assert first is not None and first.seq == 1
    assert scheduler.tick() is None
    store.append(NewEvent(kind="sync.applied", actor="a"))
    scheduler.stop()
    assert [c.seq for c in store.checkpoints()] == [1, 2]


def test_schedulers_of_several_services_share_the_interval(store: AuditStore) -> None:
    from datetime import UTC, datetime, timedelta

    now = [datetime.now(UTC)]
    key = Signer(Ed25519PrivateKey.generate())
    webhook = CheckpointScheduler(store, key, interval=60, clock=lambda: now[0])
    reconciler = CheckpointScheduler(store, key, interval=60, clock=lambda: now[0])
    store.append(NewEvent(kind="sync.applied", actor="a"))
    assert webhook.tick() is not None
    store.append(NewEvent(kind="sync.applied", actor="a"))

    # The webhook's checkpoint is recent: the reconciler leaves this round to it.
    assert reconciler.tick() is None
    now[0] += timedelta(seconds=31)
    signed = reconciler.tick()

    assert signed is not None and signed.seq == 2
    assert [c.seq for c in store.checkpoints()] == [1, 2]


def test_the_scheduler_runs_on_its_interval(store: AuditStore) -> None:
    import time

    scheduler = CheckpointScheduler(store, Signer(Ed25519PrivateKey.generate()), interval=0.05)
    scheduler.start()
    try:
        store.append(NewEvent(kind="sync.applied", actor="a"))
        deadline = time.monotonic() + 10
        while not store.checkpoints() and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        scheduler.stop()
    assert store.checkpoints()[0].seq == 1


@pytest.mark.parametrize("mode", ["full", "normal"])
def test_sqlite_durability_follows_the_setting(tmp_path: object, mode: str) -> None:
    from pathlib import Path

    from gatekeeper.audit import migrate

    engine = create_database_engine(
        f"sqlite:///{Path(str(tmp_path)) / 'a.db'}", sqlite_synchronous=mode
    )
    try:
        migrate.upgrade(engine)
        with engine.connect() as connection:
            level = connection.exec_driver_sql("PRAGMA synchronous").scalar()
        assert level == {"full": 2, "normal": 1}[mode]
        assert AuditStore(engine).append(NewEvent(kind="sync.applied", actor="a")).seq == 1
    finally:
        engine.dispose()


def test_an_unknown_sqlite_durability_is_a_config_error(tmp_path: object) -> None:
    from gatekeeper.errors import ConfigError

    with pytest.raises(ConfigError, match="sqliteSynchronous"):
        create_database_engine(f"sqlite:///{tmp_path}/a.db", sqlite_synchronous="off")


def test_records_are_found_by_the_namespace_and_kind_of_the_object_they_name(
    store: AuditStore,
) -> None:
    subjects = ["apps/Deployment/shop/web", "ConfigMap/shop/web", "apps/Deployment/bank/api"]
    for subject in [*subjects, "source/apps"]:
        store.append(NewEvent(kind="drift.detected", actor="a", subject=subject))

    in_shop = store.query(namespace="shop").records
    deployments = store.query(object_kind="Deployment").records
    both = store.query(namespace="shop", object_kind="Deployment").records

    assert [r.subject for r in in_shop] == subjects[:2]
    assert [r.subject for r in deployments] == [subjects[0], subjects[2]]
    assert [r.subject for r in both] == [subjects[0]]
    assert verify_store(store, None).ok


def _edit_object_columns(store: AuditStore, *statements: str) -> None:
    from tests.integration.audit.test_tamper import tamper

    tamper(store, *statements)


def test_an_edited_obj_namespace_is_named_by_audit_verify(
    store: AuditStore, signer: Signer
) -> None:
    """The object columns are not hashed; verification holds them against the subject, so a
    record moved out of its namespace's listing by one UPDATE makes the log fail."""
    for i in range(1, 7):
        store.append(
            NewEvent(kind="admission.denied", actor="alice", subject=f"apps/Deployment/team-a/w{i}")
        )
    store.checkpoint(signer)
    _edit_object_columns(
        store,
        "UPDATE audit_events SET obj_namespace = 'elsewhere' WHERE seq IN (3, 6)",
        "UPDATE audit_events SET obj_kind = 'Secret' WHERE seq = 4",
    )
    for workers in (1, 2):
        report = verify_store(
            store, Verifier(signer.public_key), workers=workers, parallel_threshold=1
        )
        assert [(f.problem, f.seq) for f in report.findings] == [
            ("malformed_record", 3),
            ("malformed_record", 4),
            ("malformed_record", 6),
        ]
        assert "obj_namespace 'elsewhere'" in report.findings[0].detail


def test_a_query_by_namespace_or_kind_is_not_fooled_by_edited_object_columns(
    store: AuditStore,
) -> None:
    """A row whose columns were edited to claim a namespace or kind its subject does not
    name is not listed under them (and each page is still full)."""
    for i in range(1, 7):
        store.append(NewEvent(kind="drift.detected", actor="a", subject=f"ConfigMap/bank/c{i}"))
    store.append(NewEvent(kind="drift.detected", actor="a", subject="ConfigMap/shop/real"))
    _edit_object_columns(
        store,
        "UPDATE audit_events SET obj_namespace = 'shop', obj_kind = 'Secret' WHERE seq <= 6",
    )
    assert [r.seq for r in store.query(namespace="shop", limit=1).records] == [7]
    assert store.query(namespace="shop", limit=1).next_cursor is None
    assert [r.seq for r in store.query(namespace="shop", order="desc").records] == [7]
    assert store.query(object_kind="Secret").records == []
    assert [r.seq for r in store.query(namespace="bank", limit=2).records] == []
    assert [r.seq for r in store.query(object_kind="ConfigMap").records] == [7]


def test_records_are_counted_per_utc_day_and_kind_then_only_what_was_appended(
    migrated_engine: object,
) -> None:
    moments = iter(
        [datetime(2026, 11, 30, 23, 59, tzinfo=UTC)] * 2
        + [datetime(2026, 12, 1, 0, 1, tzinfo=UTC)] * 3
    )
    store = AuditStore(migrated_engine, clock=lambda: next(moments))  # type: ignore[arg-type]
    store.append(NewEvent(kind="sync.applied", actor="a"))
    store.append(NewEvent(kind="breakglass", actor="a"))
    store.append(NewEvent(kind="sync.applied", actor="a"))

    counts, upto = store.daily_counts()
    assert sorted(counts) == [
        ("2026-11-30", "breakglass", 1),
        ("2026-11-30", "sync.applied", 1),
        ("2026-12-01", "sync.applied", 1),
    ]
    assert upto == 3
    store.append(NewEvent(kind="sync.applied", actor="a"))
    assert store.daily_counts(after=upto) == ([("2026-12-01", "sync.applied", 1)], 4)


def test_a_period_finds_its_records_even_when_the_clock_stepped_back(
    migrated_engine: object,
) -> None:
    start = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
    moments = iter(
        [start, start + timedelta(hours=2), start + timedelta(hours=1), start + timedelta(hours=3)]
    )
    store = AuditStore(migrated_engine, clock=lambda: next(moments))  # type: ignore[arg-type]
    for index in range(4):
        store.append(NewEvent(kind="sync.applied", actor=f"a{index}"))

    window = store.query(since=start + timedelta(minutes=30), until=start + timedelta(hours=2.5))
    assert [record.actor for record in window.records] == ["a1", "a2"]
    assert store.query(since=start + timedelta(days=1)).records == []
    paged = store.query(since=start, limit=1)
    assert [r.seq for r in paged.records] == [1] and paged.next_cursor == 1
