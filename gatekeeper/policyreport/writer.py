"""Writes the PolicyReports: a follower of the audit log whose consumer turns each page of
records into changed results, and each changed scope into one write of its report."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Final

from gatekeeper.audit.events import Record
from gatekeeper.audit.follow import Backoff, Done, LogFollower
from gatekeeper.audit.store import AuditStore
from gatekeeper.kube.client import KubeClient
from gatekeeper.kube.errors import Conflict, KubeError, NotFound, UnknownKind
from gatekeeper.kube.objects import ResourceType
from gatekeeper.policyreport.errors import PolicyReportError
from gatekeeper.policyreport.report import API_VERSION, ReportState
from gatekeeper.policyreport.results import Change, changes
from gatekeeper.settings import Settings

log = logging.getLogger(__name__)

CURSOR: Final = "policyreports"
KINDS: Final = frozenset(
    {
        "sync.applied",
        "sync.pruned",
        "policy.denied",
        "admission.allowed",
        "admission.denied",
        "breakglass",
    }
)
_TRIES: Final = 3


class PolicyReportWriter:
    """Keeps each scope's report as last written (its resourceVersion too); a report not
    seen yet is read back first, so a restart carries on from what the cluster holds."""

    def __init__(self, kube: KubeClient, *, name: str, max_results: int) -> None:
        self._kube = kube
        self._name = name
        self._max = max_results
        self._known: dict[str, tuple[ReportState, str | None]] = {}
        self.writes = 0

    def wants(self, record: Record) -> bool:
        return record.kind in KINDS

    def consume(self, records: Sequence[Record], done: Done) -> None:
        by_scope: dict[str, list[Change]] = {}
        for record in records:
            for change in changes(record):
                by_scope.setdefault(change.scope, []).append(change)
        for scope, found in sorted(by_scope.items()):
            self._write(scope, found)
        done(records[-1].seq)

    def _resource(self, scope: str) -> ResourceType:
        kind = "PolicyReport" if scope else "ClusterPolicyReport"
        try:
            return self._kube.resource_for(API_VERSION, kind)
        except UnknownKind as exc:
            raise PolicyReportError(
                f"the cluster serves no {kind} ({API_VERSION}): install the CRDs "
                "(chart value policyReports.installCRD)"
            ) from exc

    def _state(self, scope: str, resource: ResourceType) -> tuple[ReportState, str | None]:
        known = self._known.get(scope)
        if known is not None:
            return known
        state = ReportState(scope, max_results=self._max)
        live = self._kube.get(resource, self._name, scope or None)
        if live is None:
            return state, None
        state.load(live)
        return state, str((live.get("metadata") or {}).get("resourceVersion") or "") or None

    def _write(self, scope: str, found: Sequence[Change]) -> None:
        resource = self._resource(scope)
        for _ in range(_TRIES):
            try:
                state, version = self._state(scope, resource)
                moved = [state.apply(change) for change in found]
                if not any(moved):
                    self._known[scope] = (state, version)
                    return
                body = state.body(self._name, resource_version=version)
                if version is None:
                    written = self._kube.create(resource, body)
                else:
                    written = self._kube.replace(resource, body)
            except Conflict:
                self._known.pop(scope, None)  # someone else wrote it: read it again
                continue
            except NotFound:
                if version is None:
                    log.info("namespace %s is gone; its results are not reported", scope)
                    self._known.pop(scope, None)
                    return
                self._known.pop(scope, None)
                continue
            except KubeError as exc:
                self._known.pop(scope, None)
                where = f"namespace {scope}" if scope else "the cluster"
                raise PolicyReportError(f"cannot write the report of {where}: {exc}") from exc
            self.writes += 1
            new_version = str((written.get("metadata") or {}).get("resourceVersion") or "")
            self._known[scope] = (state, new_version or None)
            return
        raise PolicyReportError(f"the report of {scope or 'the cluster'} kept changing under us")


def follower_from_settings(
    settings: Settings,
    store: AuditStore,
    kube: KubeClient,
    *,
    active: Callable[[], bool] = lambda: True,
) -> LogFollower | None:
    """The follower that writes the reports, or None when they are not enabled."""
    config = settings.policy_reports
    if not config.enabled:
        return None
    writer = PolicyReportWriter(kube, name=config.name, max_results=config.max_results)
    return LogFollower(
        store,
        name=CURSOR,
        consumer=writer,
        interval=config.poll_interval,
        backoff=Backoff(initial=config.retry.initial, longest=config.retry.max),
        active=active,
    )
