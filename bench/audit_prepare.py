"""Per-event CPU cost of the audit store's ingest before the database: `prepare` and sealing.

`AuditStore.prepare` checks an event, redacts it and serialises its payload; `_seal` chains
prepared events onto a head and builds the rows and records. Neither touches the database,
so both are timed in a loop over admission-decision-sized events (about 600 bytes of
payload, the same as `audit_store.py`). The floor is what any store must do per event: the
payload's canonical JSON and the record's SHA-256. Each figure is the median of `--rounds`
rounds, taken in turns with the floor.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time
import uuid
from typing import Any

from machine import machine, ratio
from sqlalchemy import create_engine

from gatekeeper.audit import chain
from gatekeeper.audit.events import GENESIS_HASH, NewEvent
from gatekeeper.audit.secret_digest import SecretDigester
from gatekeeper.audit.store import AuditStore

BATCH = 512


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
            "user": f"user-{i % 50}",
            "groups": ["system:authenticated", "system:serviceaccounts", "team"],
            "object": {
                "apiVersion": "apps/v1",
                "kind": "Deployment",
                "namespace": f"team-{i % 7}",
                "name": f"web-{i % 100}",
            },
            "reasons": ["not from a verified commit"] if i % 4 == 0 else [],
            "digest": f"sha256:{i:064x}",
            "source": {"name": "apps", "commit": f"{i:040x}", "path": "deploy/web.yaml"},
            "policies": {"version": "v42", "evaluated": 17, "denied": [], "warned": []},
            "dry_run": False,
        },
    )


def _per_event_us(seconds: float, events: int) -> float:
    return seconds / events * 1e6


def time_prepare(store: AuditStore, events: list[NewEvent]) -> float:
    started = time.perf_counter()
    for item in events:
        store.prepare(item)
    return _per_event_us(time.perf_counter() - started, len(events))


def time_seal(store: AuditStore, events: list[NewEvent]) -> float:
    prepared = [store.prepare(item) for item in events]
    started = time.perf_counter()
    for start in range(0, len(prepared), BATCH):
        store._seal(prepared[start : start + BATCH], start, GENESIS_HASH)
    return _per_event_us(time.perf_counter() - started, len(events))


def time_floor(events: list[NewEvent]) -> float:
    """The payload's canonical JSON and the record's hash, nothing else."""
    started = time.perf_counter()
    prev_hash = GENESIS_HASH
    time_text = chain.format_time(chain.as_utc(chain.parse_time("2026-01-01T00:00:00.000000Z")))
    for seq, item in enumerate(events, 1):
        prev_hash = chain.record_hash(
            seq=seq,
            time=time_text,
            kind=item.kind,
            actor=item.actor,
            subject=item.subject,
            source=item.source,
            commit=item.commit,
            payload_json=chain.canonical_payload(item.payload),
            prev_hash=prev_hash,
        )
    return _per_event_us(time.perf_counter() - started, len(events))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args()

    result: dict[str, Any] = {**machine(), "events": args.events}
    events = [event(i) for i in range(args.events)]
    payload_bytes = statistics.median(len(chain.canonical_payload(e.payload)) for e in events)
    store = AuditStore(
        create_engine("sqlite://"),
        secret_digester=SecretDigester.ephemeral(),
    )
    prepare, seal, floor = [], [], []
    for _ in range(args.rounds):
        prepare.append(time_prepare(store, events))
        seal.append(time_seal(store, events))
        floor.append(time_floor(events))
    store.close()
    result.update(
        {
            "payload_bytes": payload_bytes,
            "prepare_us_per_event": statistics.median(prepare),
            "seal_us_per_event": statistics.median(seal),
            "floor_us_per_event": statistics.median(floor),
        }
    )
    result["prepare_and_seal_vs_floor"] = ratio(
        result["prepare_us_per_event"] + result["seal_us_per_event"], result["floor_us_per_event"]
    )
    result["load_average_1m_after"] = round(os.getloadavg()[0], 2)
    rounded = {k: round(v, 2) if isinstance(v, float) else v for k, v in result.items()}
    if args.json:
        print(json.dumps(rounded))
    else:
        for key, value in rounded.items():
            print(f"{key}: {value}")


if __name__ == "__main__":
    main()
