"""Prometheus metrics of the webhook, in a registry per app (so tests can build many apps).

With `serve --workers N` the processes share one count: `share_between_processes` puts every
value in a file of a folder they all read (prometheus_client's multiprocess mode), and each
process's `/metrics` adds them all up.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, values
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from prometheus_client.multiprocess import MultiProcessCollector

_SHARED_DIR = "PROMETHEUS_MULTIPROC_DIR"

# Webhooks answer in milliseconds; the API server gives up after timeoutSeconds.
_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class AdmissionMetrics:
    """Counters and histograms named `gatekeeper_admission_*`."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry(auto_describe=True)
        self.requests = Counter(
            "gatekeeper_admission_requests",
            "Admission requests decided, by operation and outcome.",
            ["operation", "decision"],
            registry=self.registry,
        )
        self.duration = Histogram(
            "gatekeeper_admission_duration_seconds",
            "Time from receiving an AdmissionReview to answering it, recording included.",
            buckets=_BUCKETS,
            registry=self.registry,
        )
        self.bad_requests = Counter(
            "gatekeeper_admission_bad_requests",
            "Requests refused before a decision: malformed, wrong kind, too large, no or wrong "
            "client certificate, timed out.",
            ["reason"],
            registry=self.registry,
        )
        self.failures = Counter(
            "gatekeeper_admission_failures",
            "Decisions answered by configuration because a part failed.",
            ["cause"],
            registry=self.registry,
        )
        self.tls_reloads = Counter(
            "gatekeeper_admission_tls_reloads",
            "Reloads of the serving certificate, by result.",
            ["result"],
            registry=self.registry,
        )

    def render(self) -> bytes:
        shared = os.environ.get(_SHARED_DIR)
        if shared:
            registry = CollectorRegistry()
            MultiProcessCollector(registry, path=shared)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)


def share_between_processes(directory: Path) -> None:
    """Count metrics made from now on, in this process and its forks, in files under
    `directory`, so that any of the processes reports the sum of all of them."""
    os.environ[_SHARED_DIR] = str(directory)
    # prometheus_client picks where values live when it is imported, which has happened.
    values.ValueClass = values.get_value_class()  # type: ignore[no-untyped-call]
