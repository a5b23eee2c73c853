"""Writes docs/performance.md from the JSON the benchmarks printed (one file per benchmark).

    python bench/report.py bench/results docs/performance.md

Each goal of the performance issue is a ratio to a floor measured in the same run; the table
gives the figure, its floor, the ratio, the goal and whether the run met it, and under it the
machine each benchmark ran on and how busy it was.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Row:
    """One line of the table: keys into one benchmark's output, and the goal on the ratio."""

    bench: str
    what: str
    figure: str
    floor: str | None
    ratio: str | None
    goal: str
    unit: str
    # (at most, bound) or (at least, bound) on the ratio, or on the figure when ratio is None.
    most: bool
    bound: float


ROWS = [
    Row("audit_store", "SQLite batched ingest", "sqlite_batched_events_per_s",
        "sqlite_floor_events_per_s", "sqlite_batched_vs_floor", ">= 0.5x floor", "events/s",
        False, 0.5),
    Row("audit_store", "PostgreSQL batched ingest", "postgresql_batched_events_per_s",
        "postgresql_floor_events_per_s", "postgresql_batched_vs_floor", ">= 0.5x floor",
        "events/s", False, 0.5),
    Row("audit_store", "SQLite durable append p99", "sqlite_durable_append_p99_ms",
        "sqlite_floor_durable_p99_ms", "sqlite_durable_p99_vs_floor", "<= 2x floor", "ms",
        True, 2),
    Row("audit_store", "PostgreSQL durable append p99", "postgresql_durable_append_p99_ms",
        "postgresql_floor_durable_p99_ms", "postgresql_durable_p99_vs_floor", "<= 2x floor",
        "ms", True, 2),
    Row("audit_store", "SQLite verification (one process)",
        "sqlite_verify_one_process_events_per_s", "sqlite_floor_verify_events_per_s",
        "sqlite_verify_vs_floor", ">= 0.5x floor", "records/s", False, 0.5),
    Row("audit_store", "PostgreSQL verification (one process)",
        "postgresql_verify_one_process_events_per_s", "postgresql_floor_verify_events_per_s",
        "postgresql_verify_vs_floor", ">= 0.5x floor", "records/s", False, 0.5),
    Row("admission", "Latency added to a kube-apiserver create", "apiserver_added_ms",
        "apiserver_added_ms_empty_webhook", "apiserver_added_vs_empty", "<= 2x empty webhook",
        "ms", True, 2),
    Row("admission", "CPU per review", "cpu_ms_per_review", "cpu_ms_per_request_empty_webhook",
        "cpu_per_review_vs_empty", "<= 2x empty webhook", "ms", True, 2),
    Row("admission", "p99 at half the highest rate (wrk)", "webhook_half_max_p99_ms",
        "empty_webhook_half_max_p99_ms", None, "<= 10 ms", "ms", True, 10),
    Row("provenance", "10,000 commits, strict", "seconds", "baseline_seconds", None, "<= 1 s",
        "s", True, 1),
    Row("provenance", "Speedup over git verify-commit", "speedup", None, None, ">= 100x", "x",
        False, 100),
    Row("sync", "First sync, 10k vs 1k objects", "first_sync_s", "first_sync_1k_s",
        "first_sync_10k_vs_1k", "<= 10x", "s", True, 10),
    Row("sync", "No-op resync, 10k vs 1k", "noop_resync_s", "noop_resync_1k_s",
        "noop_resync_10k_vs_1k", "<= 10x", "s", True, 10),
    Row("sync", "Drift scan, 10k vs 1k", "drift_scan_s", "drift_scan_1k_s",
        "drift_scan_10k_vs_1k", "<= 10x", "s", True, 10),
]  # fmt: skip

INFO = {
    "admission": [
        ("loadgen_cpu_ms_per_request", "wrk's own CPU per request (ms)"),
        ("loadgen_python_cpu_ms_per_request", "the Python load generator's CPU per request (ms)"),
        ("webhook_max_rps", "highest rate, closed loop with wrk (requests/s)"),
        ("empty_webhook_max_rps", "the empty webhook's highest rate (requests/s)"),
        ("webhook_half_max_rps", "rate of the half-rate runs (requests/s)"),
        ("workers", "server processes"),
    ],
    "sync": [("peak_rss_mb", "peak memory of the 10k run's process (MB)")],
    "provenance": [("first_pass_seconds", "first verification pass (s)")],
}


def _number(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3g}" if abs(value) < 100 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def render(results: dict[str, dict[str, Any]], note: str | None = None) -> str:
    lines = [
        "# Performance",
        "",
        "Written by `make bench` (`bench/report.py`) from the benchmarks' JSON; see",
        "`bench/README.md` for what each figure measures. Every goal is a ratio to a floor",
        "measured in the same run, on the same machine, taking turns with the figure, because",
        "absolute numbers move with the machine and with whatever else runs on it.",
        "",
        *([note, ""] if note else []),
        "| benchmark | figure | value | floor | ratio | goal | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in ROWS:
        data = results.get(row.bench)
        if data is None or row.figure not in data:
            lines.append(f"| {row.bench} | {row.what} | not measured | | | {row.goal} | |")
            continue
        figure = data[row.figure]
        floor = data.get(row.floor) if row.floor else None
        ratio = data.get(row.ratio) if row.ratio else None
        judged = ratio if row.ratio else figure
        met = "" if judged is None else ("yes" if (judged <= row.bound) == row.most else "no")
        lines.append(
            f"| {row.bench} | {row.what} | {_number(figure)} {row.unit} | "
            f"{'' if floor is None else _number(floor)} | "
            f"{'' if ratio is None else _number(ratio)} | {row.goal} | {met} |"
        )
    lines += ["", "## Other figures", ""]
    for bench, keys in INFO.items():
        for key, meaning in keys:
            if key in results.get(bench, {}):
                lines.append(f"- {bench}: {meaning}: {_number(results[bench][key])}")
    lines += [
        "",
        "## Machine",
        "",
        "| benchmark | CPUs | load (1, 5, 15 min) at start | load at end |",
    ]
    lines.append("|---|---|---|---|")
    for bench, data in sorted(results.items()):
        load = ", ".join(str(data.get(f"load_average_{m}", "?")) for m in ("1m", "5m", "15m"))
        lines.append(
            f"| {bench} | {data.get('cpus', '?')} | {load} | "
            f"{data.get('load_average_1m_after', '?')} |"
        )
    return "\n".join(lines) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", type=Path, help="folder of <benchmark>.json files")
    parser.add_argument("output", type=Path)
    parser.add_argument("--note", help="a paragraph on how this run was made")
    args = parser.parse_args()
    results = {}
    for path in sorted(args.results.glob("*.json")):
        text = path.read_text().strip()
        if text:
            results[path.stem] = json.loads(text)
    if not results:
        print(f"no benchmark output in {args.results}", file=sys.stderr)
        return 1
    args.output.write_text(render(results, args.note))
    return 0


if __name__ == "__main__":
    sys.exit(main())
