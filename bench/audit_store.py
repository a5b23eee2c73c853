"""Audit store benchmark: batched ingest, durable append latency and verification speed.

Prints one JSON object (see bench/README.md). Both engines are measured in one run, side by
side, on fresh databases: a temporary SQLite file and a temporary PostgreSQL database.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, wait
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from audit_floor import DriverFloor
from machine import machine, ratio
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from gatekeeper.audit import migrate
from gatekeeper.audit.batching import BatchedAppender
from gatekeeper.audit.checkpoints import signer_from_settings
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.verify import verify_store
from gatekeeper.settings import load_settings

POSTGRES_URL = os.environ.get(
    "GATEKEEPER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
PRODUCERS = 8


def event(i: int) -> NewEvent:
    """An admission-decision-sized event (about 600 bytes of payload)."""
    return NewEvent(
        kind="admission.allowed" if i % 4 else "admission.denied",
        actor=f"user-{i % 50}",
        subject=f"team-{i % 7}/apps/v1/Deployment/web-{i % 100}",
        source="apps",
        commit=f"{i:040x}",
        payload={
            "uid": str(uuid.UUID(int=i)),
            "operation": "UPDATE",
            "groups": ["system:authenticated", "team"],
            "reasons": ["not from a verified commit"] if i % 4 == 0 else [],
            "digest": f"sha256:{i:064x}",
            "policies": {"version": "v42", "evaluated": 17},
        },
    )


def batched_ingest(store: AuditStore, events: list[NewEvent]) -> float:
    """Events per second through the batched appender, from several producer threads."""
    started = time.perf_counter()
    with BatchedAppender(store, max_delay=0.005, max_size=512) as appender:

        def produce(worker: int) -> None:
            futures = [appender.submit(events[i]) for i in range(worker, len(events), PRODUCERS)]
            wait(futures)
            for future in futures:
                future.result()

        with ThreadPoolExecutor(PRODUCERS) as pool:
            list(pool.map(produce, range(PRODUCERS)))
    return len(events) / (time.perf_counter() - started)


def durable_latencies(store: AuditStore, events: list[NewEvent]) -> list[float]:
    """Milliseconds per durable append, one after another."""
    samples = []
    for item in events:
        started = time.perf_counter()
        store.append(item)
        samples.append((time.perf_counter() - started) * 1000)
    return samples


def p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98]


def verify_rate(store: AuditStore, workers: int) -> float:
    started = time.perf_counter()
    report = verify_store(store, None, workers=workers)
    elapsed = time.perf_counter() - started
    if not report.ok:
        raise SystemExit(f"benchmark log does not verify: {report.findings[:3]}")
    return report.records / elapsed


def top_up(store: AuditStore, total: int) -> None:
    """Grow the log to `total` records quickly (large transactions), for the verify timing."""
    present = store.head()[0]
    for start in range(present, total, 5000):
        store.append_many([event(i) for i in range(start, min(start + 5000, total))])


def fresh_engine(url: str) -> Engine:
    engine = create_database_engine(url)
    migrate.upgrade(engine)
    return engine


def measure(
    urls: tuple[str, str], events: int, durable: int, verify_events: int, rounds: int
) -> dict[str, float]:
    """The store on `urls[0]`, the driver floor on `urls[1]` (both freshly migrated), taking
    turns round after round; rates are medians over the rounds."""
    engine, floor_engine = fresh_engine(urls[0]), fresh_engine(urls[1])
    try:
        store = AuditStore(engine)
        floor = DriverFloor(floor_engine)
        batch = [event(i) for i in range(events)]
        product_latencies: list[float] = []
        floor_latencies: list[float] = []
        rates: list[float] = []
        floor_rates: list[float] = []
        per_round = max(durable // rounds, 1)
        for round_index in range(rounds):
            singles = batch[round_index * per_round : (round_index + 1) * per_round]
            floor_latencies += floor.single_latencies(singles)
            product_latencies += durable_latencies(store, singles)
            floor_rates.append(floor.batched_rate(batch))
            rates.append(batched_ingest(store, batch))
        top_up(store, verify_events)
        floor.top_up(verify_events, event)
        verify_rates: list[float] = []
        floor_verify_rates: list[float] = []
        for _ in range(max(rounds - 1, 2)):
            floor_verify_rates.append(floor.verify_rate())
            verify_rates.append(verify_rate(store, workers=1))
        parallel_verify = verify_rate(store, workers=0)
        batched, floor_batched = statistics.median(rates), statistics.median(floor_rates)
        verify, floor_verify = (
            statistics.median(verify_rates),
            statistics.median(floor_verify_rates),
        )
        return {
            "batched_events_per_s": batched,
            "floor_events_per_s": floor_batched,
            "batched_vs_floor": ratio(batched, floor_batched),
            "durable_append_p50_ms": statistics.median(product_latencies),
            "durable_append_p99_ms": p99(product_latencies),
            "floor_durable_p50_ms": statistics.median(floor_latencies),
            "floor_durable_p99_ms": p99(floor_latencies),
            "durable_p99_vs_floor": ratio(p99(product_latencies), p99(floor_latencies)),
            "verify_records": float(store.head()[0]),
            "verify_one_process_events_per_s": verify,
            "floor_verify_events_per_s": floor_verify,
            "verify_vs_floor": ratio(verify, floor_verify),
            "verify_events_per_s": parallel_verify,
        }
    finally:
        floor.close()
        engine.dispose()
        floor_engine.dispose()


@contextmanager
def temporary_postgres(count: int) -> Iterator[list[str] | None]:
    """`count` fresh databases on the PostgreSQL server (None without one), dropped after."""
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    names = [f"gk_bench_{uuid.uuid4().hex[:10]}" for _ in range(count)]
    created: list[str] = []
    try:
        try:
            with admin.connect() as connection:
                for name in names:
                    connection.execute(text(f'CREATE DATABASE "{name}"'))
                    created.append(name)
        except Exception as exc:  # the bench still reports SQLite without a server
            print(f"PostgreSQL unavailable: {exc}", file=sys.stderr)
            yield None
            return
        yield [
            make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
            for name in names
        ]
    finally:
        with admin.connect() as connection:
            for name in created:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def keep_in_config(config: Path, events: int) -> dict[str, Any]:
    """Write the events into the configured database, with signed checkpoints, and keep them."""
    settings = load_settings(config)
    signer = signer_from_settings(settings)
    url = settings.database.url
    engine = create_database_engine(url)
    try:
        migrate.upgrade(engine)
        store = AuditStore(engine, sensitive_fields=settings.audit.sensitive_fields)
        rate = batched_ingest(store, [event(i) for i in range(events)])
        checkpoint = store.checkpoint(signer)
        return {
            "kept_database": settings.database.redacted_url(),
            "kept_events": events,
            "kept_batched_events_per_s": rate,
            "kept_checkpoint_seq": checkpoint.seq,
        }
    finally:
        engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--durable", type=int, default=500, help="durable appends to time")
    parser.add_argument(
        "--verify-events",
        type=int,
        default=300_000,
        help="grow each log to this many records before timing verification",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="turns of floor and store, for the medians"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--config", type=Path, help="also write into this config's database")
    parser.add_argument("--keep", action="store_true", help="with --config: keep the events")
    args = parser.parse_args()
    if args.keep and not args.config:
        parser.error("--keep needs --config")

    result: dict[str, Any] = {**machine(), "events": args.events, "producers": PRODUCERS}
    with tempfile.TemporaryDirectory() as folder:
        sqlite = measure(
            (f"sqlite:///{folder}/bench.db", f"sqlite:///{folder}/floor.db"),
            args.events,
            args.durable,
            args.verify_events,
            args.rounds,
        )
    result.update({f"sqlite_{key}": value for key, value in sqlite.items()})
    with temporary_postgres(2) as urls:
        if urls is not None:
            postgres = measure(
                (urls[0], urls[1]), args.events, args.durable, args.verify_events, args.rounds
            )
            result.update({f"postgresql_{key}": value for key, value in postgres.items()})
    # The headline verification figures are the default engine's (SQLite).
    result["verify_events_per_s"] = sqlite["verify_events_per_s"]
    result["verify_vs_floor"] = sqlite["verify_vs_floor"]
    result["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    if args.config:
        result.update(keep_in_config(args.config, args.events))
    rounded = {
        k: (int(v) if k.endswith("_records") else round(v, 3)) if isinstance(v, float) else v
        for k, v in result.items()
    }
    if args.json:
        print(json.dumps(rounded, indent=2))
    else:
        for key, value in rounded.items():
            print(f"{key:40} {value}")


if __name__ == "__main__":
    main()
