"""Dashboard benchmark: the report API and the overview page on a large audit log.

Builds (or reuses, with `--db`) a SQLite log of N events written by the real appender in
batches, serves the dashboard on 127.0.0.1 under uvicorn, and times filtered API queries
(first pages and deep pages far into the log) and the overview page over keep-alive HTTP.
Prints one JSON object (bench/README.md lists the keys). The floor printed beside the API's
figures is the same server answering `/healthz` (no database, no authentication).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import statistics
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from gatekeeper.admission.server import ServerThread, bind
from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.events import NewEvent
from gatekeeper.audit.signing import Signer, Verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.dashboard.app import create_app
from gatekeeper.dashboard.auth import TokensFile
from gatekeeper.dashboard.filters import Filters, encode_cursor, parse_filters
from gatekeeper.dashboard.integrity import IntegrityMonitor
from gatekeeper.dashboard.server import build_server
from gatekeeper.settings import Settings

TOKEN = "bench-token"
KINDS = (
    ["admission.allowed"] * 12
    + ["admission.denied"] * 3
    + ["sync.applied", "drift.detected", "drift.corrected", "breakglass", "sync.rejected"]
)
SOURCES = ["apps", "payments", "infra", "data", "edge"]
KINDS_OF_OBJECT = ["Deployment", "ConfigMap", "Service", "Secret", "Ingress"]


def event(i: int) -> NewEvent:
    kind = KINDS[i % len(KINDS)]
    source = SOURCES[i % len(SOURCES)]
    if kind.startswith("sync."):
        subject = f"source/{source}"
    else:
        object_kind = KINDS_OF_OBJECT[(i // 7) % len(KINDS_OF_OBJECT)]
        group = "apps/" if object_kind == "Deployment" else ""
        subject = f"{group}{object_kind}/team-{i % 50}/obj-{i % 400}"
    return NewEvent(
        kind=kind,
        actor=f"user-{i % 40}",
        subject=subject,
        source=source,
        commit=hashlib.sha1(str(i // 20).encode()).hexdigest(),
        payload={"operation": "UPDATE", "reasons": ["bench"], "digest": f"sha256:{i:064x}"},
    )


def build_log(path: Path, events: int, days: int) -> tuple[AuditStore, Signer, float]:
    """A log of `events` spread evenly over `days` days, checkpointed at the end."""
    engine = create_database_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    start = datetime.now(UTC) - timedelta(days=days)
    step = timedelta(days=days) / max(events, 1)
    written = [0]
    store = AuditStore(engine, clock=lambda: start + step * written[0])
    began = time.perf_counter()
    batch = 512
    for first in range(0, events, batch):
        chunk = [event(i) for i in range(first, min(first + batch, events))]
        store.append_many(chunk)
        written[0] += len(chunk)
    signer = Signer(Ed25519PrivateKey.generate())
    store.checkpoint(signer)
    return store, signer, events / (time.perf_counter() - began)


def p99(samples: list[float]) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--repeat", type=int, default=15, help="requests per query")
    parser.add_argument("--db", type=Path, help="reuse (or keep) the log at this path")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    folder = Path(tempfile.mkdtemp(prefix="gatekeeper-bench-"))
    db = args.db or folder / "audit.db"
    build_rate = None
    if db.exists():
        store = AuditStore(create_database_engine(f"sqlite:///{db}"))
        signer = Signer(Ed25519PrivateKey.generate())
        store.checkpoint(signer)
    else:
        store, signer, build_rate = build_log(db, args.events, args.days)
    head, _ = store.head()
    tokens = folder / "tokens.yaml"
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    tokens.write_text(f"- {{user: bench, tokenSha256: {digest}}}\n")
    integrity = IntegrityMonitor(store, Verifier(signer.public_key))
    began = time.perf_counter()
    integrity.refresh(full=True)
    full_verify_s = time.perf_counter() - began
    app = create_app(
        Settings(dashboard={"auth": "tokens", "tokensFile": str(tokens)}),
        store=store,
        authenticator=TokensFile.load(tokens),
        integrity=integrity,
    )
    thread = ServerThread(build_server(app, host="127.0.0.1", port=0), bind("127.0.0.1"))
    thread.start()
    base = f"http://127.0.0.1:{thread.port}"
    headers = {"Authorization": f"Bearer {TOKEN}"}
    deep = int(head * 0.9)
    queries: dict[str, dict[str, str]] = {
        "all": {},
        "kind": {"kind": "drift.detected"},
        "source": {"source": "payments"},
        "namespace": {"namespace": "team-7"},
        "objectKind": {"objectKind": "Ingress"},
        "actor": {"actor": "user-3"},
        "commit": {"commit": event(head // 2).commit or ""},
        "one_day": {
            "since": (datetime.now(UTC) - timedelta(days=10)).date().isoformat(),
            "until": (datetime.now(UTC) - timedelta(days=9)).date().isoformat(),
        },
        "kind_namespace": {"kind": "admission.denied", "namespace": "team-7"},
        "source_objectKind": {"source": "edge", "objectKind": "Secret"},
    }
    results: dict[str, Any] = {}
    everything: list[float] = []
    with httpx.Client(base_url=base, headers=headers, timeout=60) as http:
        floor = []
        for _ in range(args.repeat * 4):
            started = time.perf_counter()
            http.get("/healthz").raise_for_status()
            floor.append((time.perf_counter() - started) * 1000)
        for name, params in queries.items():
            filters: Filters = parse_filters(params)
            for page, extra in (("first", {}), ("deep", {"after": encode_cursor(deep, filters)})):
                samples = []
                for _ in range(args.repeat):
                    started = time.perf_counter()
                    answer = http.get("/api/v1/events", params={**params, **extra})
                    answer.raise_for_status()
                    samples.append((time.perf_counter() - started) * 1000)
                everything += samples
                results[f"api_{name}_{page}_p50_ms"] = round(statistics.median(samples), 2)
        login = http.post("/login", data={"token": TOKEN, "next": "/"})
        cookies = login.cookies
        http.headers.pop("Authorization")
        started = time.perf_counter()
        http.get("/", cookies=cookies).raise_for_status()
        first_overview = (time.perf_counter() - started) * 1000
        overview = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            http.get("/", cookies=cookies).raise_for_status()
            overview.append((time.perf_counter() - started) * 1000)
    thread.stop()
    output = {
        "events": head,
        "build_events_per_s": None if build_rate is None else round(build_rate),
        "api_requests": len(everything),
        "api_events_p99_ms": round(p99(everything), 2),
        "api_events_p50_ms": round(statistics.median(everything), 2),
        "floor_healthz_p50_ms": round(statistics.median(floor), 2),
        "page_overview_ms": round(statistics.median(overview), 2),
        "page_overview_first_ms": round(first_overview, 2),
        "integrity_full_verify_s": round(full_verify_s, 2),
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        **results,
    }
    print(json.dumps(output, indent=None if args.json else 2))


if __name__ == "__main__":
    main()
