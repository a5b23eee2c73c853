"""Records per day and kind, counted once and then only as the log grows: the page's charts."""

from __future__ import annotations

import threading
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Final

from gatekeeper.audit.store import AuditStore

# The series the overview charts, and the record kinds each one adds up.
SERIES: Final[tuple[tuple[str, str, tuple[str, ...]], ...]] = (
    ("changes", "Changes applied", ("sync.applied",)),
    ("denials", "Refused", ("admission.denied", "sync.rejected", "policy.denied")),
    ("drift", "Drift detected", ("drift.detected",)),
    ("breakglass", "Break-glass", ("breakglass",)),
    ("rollbacks", "Rollbacks", ("rollback",)),
)


@dataclass(frozen=True)
class Series:
    key: str
    title: str
    days: tuple[date, ...]
    counts: tuple[int, ...]

    @property
    def total(self) -> int:
        return sum(self.counts)

    @property
    def peak(self) -> int:
        return max(self.counts, default=0)


@dataclass
class Activity:
    """Running totals of records per (UTC day, kind)."""

    store: AuditStore
    _totals: Counter[tuple[str, str]] = field(default_factory=Counter, init=False)
    _counted_upto: int = field(default=0, init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False)

    def refresh(self) -> None:
        with self._lock:
            rows, head = self.store.daily_counts(after=self._counted_upto)
            for day, kind, count in rows:
                self._totals[(day, kind)] += count
            self._counted_upto = max(self._counted_upto, head)

    def series(self, first: date, last: date) -> list[Series]:
        """Each charted series, one count per day from `first` to `last` inclusive, as of
        the last `refresh`."""
        days = tuple(first + timedelta(days=n) for n in range((last - first).days + 1))
        with self._lock:
            totals = dict(self._totals)
        return [
            Series(
                key=key,
                title=title,
                days=days,
                counts=tuple(
                    sum(totals.get((day.isoformat(), kind), 0) for kind in kinds) for day in days
                ),
            )
            for key, title, kinds in SERIES
        ]

    def kinds(self, first: date, last: date) -> Counter[str]:
        """Records per kind between two days inclusive, as of the last `refresh`."""
        low, high = first.isoformat(), last.isoformat()
        with self._lock:
            found: Counter[str] = Counter()
            for (day, kind), count in self._totals.items():
                if low <= day <= high:
                    found[kind] += count
        return found
