"""What a report covers: its filters, parsed once at the edge and stated in every report."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import TYPE_CHECKING, Any

from gatekeeper.audit import chain, events
from gatekeeper.report.errors import FilterError

if TYPE_CHECKING:
    from gatekeeper.audit.store import AuditStore

# Kinds the gatekeeper itself records: accepted as filters even before one has happened, so
# that "no rollback in October" is a report and not an error.
RECORDED_KINDS: frozenset[str] = frozenset(
    {
        events.SYNC_APPLIED,
        events.SYNC_REJECTED,
        events.SYNC_FAILED,
        events.PRUNED,
        events.POLICY_DENIED,
        events.POLICY_RELOAD_FAILED,
        events.POLICY_RELOADED,
        events.ADMISSION_ALLOWED,
        events.ADMISSION_DENIED,
        events.BREAKGLASS,
        events.DRIFT_DETECTED,
        events.DRIFT_CORRECTED,
        events.ROLLBACK,
        events.SYNC_HEALTHY,
        events.SYNC_UNHEALTHY,
        events.REPORT_GENERATED,
        events.POLICY_REJECTED,
        events.POLICY_LOADED,
        events.LEDGER_RECORDED,
        events.LEDGER_LEGACY,
        events.NOTIFICATION_DROPPED,
    }
)
_COMMIT = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")


@dataclass(frozen=True, kw_only=True)
class ReportFilters:
    """Which records a report covers; every field left as None (or empty) selects everything.

    `since` is inclusive and `until` exclusive, both aware UTC times. `kinds` are event kinds
    (`sync.applied`), `object_kind` the Kubernetes kind of the record's object (`Deployment`),
    `commit` a full commit SHA. The constructor refuses inconsistent values; `parse` builds
    one from command-line or query-string text.
    """

    since: datetime | None = None
    until: datetime | None = None
    source: str | None = None
    namespace: str | None = None
    kinds: tuple[str, ...] = ()
    object_kind: str | None = None
    actor: str | None = None
    commit: str | None = None

    def __post_init__(self) -> None:
        for name in ("since", "until"):
            moment = getattr(self, name)
            if moment is not None and moment.tzinfo is None:
                raise FilterError(f"{name} must be an aware UTC time", option=f"--{name}")
        if self.since is not None and self.until is not None and self.until <= self.since:
            raise FilterError("--until must be after --since", option="--until")
        for kind in self.kinds:
            if not chain.is_valid_kind(kind):
                raise FilterError(
                    f"{kind!r} is not an event kind (dotted lower-case, e.g. sync.applied)",
                    option="--kind",
                )
        if self.commit is not None and not _COMMIT.match(self.commit):
            raise FilterError(
                f"{self.commit!r} is not a full commit SHA (40 or 64 lower-case hex digits)",
                option="--commit",
            )
        for name in ("source", "namespace", "object_kind", "actor"):
            value = getattr(self, name)
            if value is not None and (not value or value != value.strip()):
                option = "--" + name.replace("_", "-")
                raise FilterError(f"{option} must not be empty or padded", option=option)

    @classmethod
    def parse(
        cls,
        *,
        since: str | datetime | date | None = None,
        until: str | datetime | date | None = None,
        source: str | None = None,
        namespace: str | None = None,
        kinds: Iterable[str] | str | None = None,
        object_kind: str | None = None,
        actor: str | None = None,
        commit: str | None = None,
    ) -> ReportFilters:
        """Filters from loose input: ISO 8601 text or dates for times (naive means UTC),
        kinds as a list or a comma-separated string, empty strings as absent."""
        kind_list = kinds.split(",") if isinstance(kinds, str) else list(kinds or ())
        return cls(
            since=_moment(since, "--since"),
            until=_moment(until, "--until"),
            source=source or None,
            namespace=namespace or None,
            kinds=tuple(sorted({kind.strip() for kind in kind_list if kind.strip()})),
            object_kind=object_kind or None,
            actor=actor or None,
            commit=commit.strip().lower() if commit else None,
        )

    def query_arguments(self) -> dict[str, Any]:
        """Keyword arguments of `AuditStore.query` that select these records."""
        return {
            "since": self.since,
            "until": self.until,
            "source": self.source,
            "namespace": self.namespace,
            "kinds": self.kinds,
            "object_kind": self.object_kind,
            "actor": self.actor,
            "commit": self.commit,
        }

    def as_json(self) -> dict[str, Any]:
        """Every filter, set or not, with times as `2026-11-01T00:00:00Z`."""
        return {
            "since": iso(self.since),
            "until": iso(self.until),
            "source": self.source,
            "namespace": self.namespace,
            "kinds": list(self.kinds),
            "object_kind": self.object_kind,
            "actor": self.actor,
            "commit": self.commit,
        }

    def describe(self) -> list[str]:
        """One line per filter, for people: what the report covers and what it leaves out."""
        lines = [
            f"Period: {iso(self.since) or 'the beginning of the log'} (inclusive) to "
            f"{iso(self.until) or 'the time of the report'} (exclusive), UTC"
        ]
        for label, value in (
            ("Source", self.source),
            ("Namespace", self.namespace),
            ("Event kinds", ", ".join(self.kinds) or None),
            ("Object kind", self.object_kind),
            ("Actor", self.actor),
            ("Commit", self.commit),
        ):
            lines.append(f"{label}: {value if value is not None else 'all'}")
        return lines

    def command_options(self) -> list[str]:
        """The `gatekeeper report` options that select the same records."""
        options: list[str] = []
        for option, value in (
            ("--since", iso(self.since)),
            ("--until", iso(self.until)),
            ("--source", self.source),
            ("--namespace", self.namespace),
            ("--object-kind", self.object_kind),
            ("--actor", self.actor),
            ("--commit", self.commit),
        ):
            if value is not None:
                options += [option, value]
        for kind in self.kinds:
            options += ["--kind", kind]
        return options


def check_known(filters: ReportFilters, store: AuditStore) -> None:
    """Refuse filters that name what the log has never held: a source no record names, an
    event kind neither recorded by the gatekeeper nor present in the log.

    A typing mistake would otherwise give an empty report that reads as a clean one.
    """
    if filters.source is not None and not store.query(source=filters.source, limit=1).records:
        raise FilterError(
            f"no record of the audit log names the source {filters.source!r}: check the "
            "name against sources[].name in the configuration",
            option="--source",
        )
    for kind in filters.kinds:
        if kind not in RECORDED_KINDS and not store.query(kinds=[kind], limit=1).records:
            raise FilterError(
                f"{kind!r} is not a kind the gatekeeper records, and no record of the audit "
                f"log has it; known kinds: {', '.join(sorted(RECORDED_KINDS))}",
                option="--kind",
            )


def iso(moment: datetime | None) -> str | None:
    """`2026-11-01T00:00:00Z`, microseconds only when there are any; None stays None."""
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _moment(value: str | datetime | date | None, option: str) -> datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip())
        except ValueError as exc:
            raise FilterError(
                f"{value!r} is not an ISO 8601 date or time (e.g. 2026-11-01 or "
                "2026-11-01T12:00:00Z)",
                option=option,
            ) from exc
    if not isinstance(value, datetime):
        value = datetime(value.year, value.month, value.day)
    try:
        return chain.as_utc(value)
    except OverflowError as exc:
        # 0001-01-01T00:00:00+01:00 is a valid ISO 8601 time with no UTC time in Python.
        raise FilterError(
            f"{value.isoformat()!r} is outside the calendar once turned into UTC (years 1 to 9999)",
            option=option,
        ) from exc
