"""Prometheus metrics of the webhook, in a registry per app (so tests can build many apps)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

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
            "Requests refused with HTTP 400 (malformed, wrong kind, too large).",
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
        return generate_latest(self.registry)
