"""Report benchmark: JSON and PDF reports, an evidence bundle and its offline check, at scale.

    .venv/bin/python bench/reports.py --json [--events 100000] [--database-url URL]

Builds a fresh store of N events with the real appender (`AuditStore.append_many`, batches of
1,000; a temporary SQLite file unless `--database-url` names an empty database) and signs a
checkpoint over them. Then each step runs in a process of its own, as the CLI runs it
(verification on one process per core), so that each step's peak memory is its own:

- `report_100k_json_s`: `build_report` (verification of the log included), the JSON written
  and signed;
- `report_100k_pdf_s`: the same for the PDF (summary, 200 rows per section);
- `bundle_100k_s`: `write_bundle` (records, checkpoints, four reports, manifest, signature);
- `bundle_verify_100k_s`: `verify_bundle` with the trusted key, from the zip alone;
- `<step>_cpu_s`: CPU seconds of the step, its process and the workers it forked (less
  sensitive than wall time to a busy machine);
- `<step>_peak_rss_mb`, `<step>_baseline_rss_mb`: `ru_maxrss` of the step's process at its
  end and after its imports (the difference is what the step held); `peak_rss_mb`: the
  largest peak; `<step>_bytes`: the size of what it wrote;
- `build_store_s`, `events`, `engine`, `cpus`, `load_average_1m`: the setup, and how busy
  the machine was when the steps started.

The keys are named for the default N (100,000) whatever `--events` is. Targets: JSON <= 5 s,
PDF <= 10 s, bundle verification <= 5 s, memory flat in N.

Then, unless `--api-events 0`, bench/dashboard_api.py measures the report API and the
overview page on a log of `--api-events` records (default 1,000,000) and its keys are added:
`api_events_p99_ms` (filtered queries, first and deep pages), `page_overview_ms`, and the
rest it prints (`api_log_events`, `api_log_peak_rss_mb` for its own log and process).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KINDS = (
    "admission.allowed",
    "admission.allowed",
    "admission.allowed",
    "admission.denied",
    "sync.applied",
    "sync.rejected",
    "drift.detected",
    "breakglass",
)
# Steps timed in child processes: name -> what the child does.
STEPS = ("report_json", "report_pdf", "bundle", "bundle_verify")


def event(i: int) -> Any:
    from gatekeeper.audit.events import NewEvent

    return NewEvent(
        kind=KINDS[i % len(KINDS)],
        actor=f"user-{i % 50}",
        subject=f"apps/Deployment/team-{i % 7}/web-{i % 100}",
        source="apps" if i % 3 else "infra",
        commit=f"{i:040x}",
        payload={
            "uid": str(uuid.UUID(int=i)),
            "operation": "UPDATE",
            "groups": ["system:authenticated", "team"],
            "reasons": ["not from a verified commit"] if i % 8 == 3 else [],
            "digest": f"sha256:{i:064x}",
            "policies": {"version": "v42", "evaluated": 17},
        },
    )


def build_store(url: str, events: int, key_file: Path) -> float:
    """Fill a fresh store and sign a checkpoint over it; seconds taken."""
    from gatekeeper.audit import migrate
    from gatekeeper.audit.database import create_database_engine
    from gatekeeper.audit.signing import load_signer
    from gatekeeper.audit.store import AuditStore

    engine = create_database_engine(url)
    migrate.upgrade(engine)
    store = AuditStore(engine)
    started = time.perf_counter()
    for first in range(0, events, 1000):
        store.append_many([event(i) for i in range(first, min(first + 1000, events))])
    store.checkpoint(load_signer(path=key_file))
    seconds = time.perf_counter() - started
    store.close()
    return seconds


def child(step: str, url: str, key_file: Path, folder: Path) -> dict[str, Any]:
    """One step, timed from a warm import to the file written; this process's peak RSS."""
    from gatekeeper.audit.database import create_database_engine
    from gatekeeper.audit.signing import Verifier, load_signer
    from gatekeeper.audit.store import AuditStore
    from gatekeeper.report.bundle import verify_bundle, write_bundle
    from gatekeeper.report.filters import ReportFilters
    from gatekeeper.report.model import build_report
    from gatekeeper.report.render import write
    from gatekeeper.report.signing import DigestWriter, sign_digest

    signer = load_signer(path=key_file)
    verifier = Verifier(signer.public_key)
    baseline = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu_before = _cpu_seconds()
    started = time.perf_counter()
    detail: dict[str, Any] = {}
    if step == "bundle_verify":
        checked = verify_bundle(folder / "bundle.zip", verifier)
        detail["records"] = checked.records
    else:
        store = AuditStore(create_database_engine(url))
        if step == "bundle":
            made = write_bundle(
                store,
                ReportFilters(),
                folder / "bundle.zip",
                signer=signer,
                verifier=verifier,
                workers=0,
            )
            detail["bytes"] = (folder / "bundle.zip").stat().st_size
            detail["status"] = made.report.integrity.status
        else:
            fmt = "json" if step == "report_json" else "pdf"
            report = build_report(
                store,
                ReportFilters(),
                verifier=verifier,
                signing_key_id=signer.key_id,
                workers=0,
            )
            with (folder / f"report.{fmt}").open("wb") as handle:
                digest = DigestWriter(handle)
                write(report, fmt, digest)
            sign_digest(digest.sha256, digest.size, signer)
            detail["bytes"] = digest.size
            detail["status"] = report.integrity.status
        store.close()
    return {
        "seconds": time.perf_counter() - started,
        "cpu_seconds": _cpu_seconds() - cpu_before,
        "rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "baseline_rss_mb": baseline,
        **detail,
    }


def _cpu_seconds() -> float:
    """User and system time of this process and its finished children (the forked workers
    that verify the chain in parallel): what a step costs, whatever else the machine runs."""
    total = 0.0
    for who in (resource.RUSAGE_SELF, resource.RUSAGE_CHILDREN):
        usage = resource.getrusage(who)
        total += usage.ru_utime + usage.ru_stime
    return total


def run_child(step: str, url: str, key_file: Path, folder: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--child", step, "--database-url", url,
         "--key", str(key_file), "--folder", str(folder)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    result: dict[str, Any] = json.loads(done.stdout.splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--database-url", help="An empty database (default: a temporary SQLite)")
    parser.add_argument("--json", action="store_true", help="Print one JSON object.")
    parser.add_argument(
        "--api-events",
        type=int,
        default=1_000_000,
        help="Events in the log the report API is measured on (bench/dashboard_api.py); 0 skips",
    )
    parser.add_argument("--child", choices=STEPS, help=argparse.SUPPRESS)
    parser.add_argument("--key", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--folder", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.database_url, args.key, args.folder)))
        return
    with tempfile.TemporaryDirectory(prefix="bench-reports-") as temporary:
        folder = Path(temporary)
        key_file = folder / "audit.pem"
        key_file.write_bytes(
            Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        url = args.database_url or f"sqlite:///{folder / 'audit.db'}"
        results: dict[str, Any] = {
            "events": args.events,
            "engine": url.split(":", 1)[0].split("+", 1)[0],
            "build_store_s": round(build_store(url, args.events, key_file), 2),
            "cpus": os.cpu_count(),
            "load_average_1m": round(os.getloadavg()[0], 2),
        }
        names = {
            "report_json": "report_100k_json_s",
            "report_pdf": "report_100k_pdf_s",
            "bundle": "bundle_100k_s",
            "bundle_verify": "bundle_verify_100k_s",
        }
        peaks = []
        for step in STEPS:
            measured = run_child(step, url, key_file, folder)
            results[names[step]] = round(measured["seconds"], 2)
            results[f"{step}_cpu_s"] = round(measured["cpu_seconds"], 2)
            results[f"{step}_peak_rss_mb"] = round(measured["rss_mb"], 1)
            results[f"{step}_baseline_rss_mb"] = round(measured["baseline_rss_mb"], 1)
            if "bytes" in measured:
                results[f"{step}_bytes"] = measured["bytes"]
            peaks.append(measured["rss_mb"])
        results["peak_rss_mb"] = round(max(peaks), 1)
    if args.api_events:
        results.update(_api(args.api_events))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for key, value in results.items():
            print(f"{key}: {value}")


def _api(events: int) -> dict[str, Any]:
    """The report API's keys (`api_events_p99_ms`, `page_overview_ms`, ...), measured by
    bench/dashboard_api.py in a process of its own on a log of `events` records."""
    script = Path(__file__).with_name("dashboard_api.py")
    answer = subprocess.run(
        [sys.executable, str(script), "--events", str(events), "--json"],
        check=True,
        capture_output=True,
        text=True,
    )
    measured: dict[str, Any] = json.loads(answer.stdout)
    return {
        f"api_log_{key}" if key in ("events", "peak_rss_mb") else key: value
        for key, value in measured.items()
    }


if __name__ == "__main__":
    main()
