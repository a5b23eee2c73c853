"""After a sync: whether its workloads proved healthy, and what follows. Pure decisions.

`health` judges single objects; this module decides for a synced commit: whether a judgement
is owed at all, whether it is healthy, still within its time, or unhealthy, and then whether
to roll back (the shell asks) or to record it as unhealthy once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from gatekeeper.audit.events import NewEvent
from gatekeeper.kube.contract import DesiredObject
from gatekeeper.kube.objects import ObjectKey
from gatekeeper.reconcile import health, journal
from gatekeeper.reconcile.desired import Desired
from gatekeeper.reconcile.history import SourceState
from gatekeeper.reconcile.results import PassResult
from gatekeeper.settings import SourceSettings


@dataclass(frozen=True)
class Judgement:
    """How a synced commit's workloads fare, and why when they do not."""

    status: Literal["healthy", "waiting", "unhealthy"]
    verdict: health.Verdict
    reason: str = ""


def owed(state: SourceState, commit: str) -> bool:
    """Whether `commit` is the last one applied by a sync and its health is not judged yet."""
    if not state.awaiting_health or state.last_applied is None:
        return False
    return state.last_applied.commit == commit


def workloads(desired: Desired) -> list[DesiredObject]:
    """The commit's objects that have a notion of readiness."""
    return [item for item in desired.objects if item.key.kind in health.WORKLOAD_KINDS]


def judge(
    items: list[DesiredObject],
    live: Mapping[ObjectKey, Mapping[str, Any]],
    *,
    commit: str,
    applied_at: float,
    now: float,
    timeout: float,
) -> Judgement:
    """Healthy when every workload is; unhealthy when one failed, or when some are still not
    ready `timeout` seconds after the apply; waiting otherwise."""
    verdict = health.summarise((str(item.key), live.get(item.key)) for item in items)
    if verdict.status is health.Status.CURRENT:
        return Judgement("healthy", verdict)
    if verdict.status is not health.Status.FAILED and now - applied_at < timeout:
        return Judgement("waiting", verdict)
    reason = f"unhealthy after sync of {commit[:12]}: " + "; ".join(
        f"{name}: {h.message}" for name, h in verdict.unhealthy[:5]
    )
    return Judgement("unhealthy", verdict, reason)


def rollback_target(source: SourceSettings, earlier_healthy: str | None) -> str | None:
    """Where an unhealthy sync returns to by itself, if allowed: the newest healthy commit it
    descends from (the shell asks Git which that is)."""
    return earlier_healthy if source.auto_rollback else None


def healthy(source: str, commit: str, *, actor: str, judgement: Judgement) -> NewEvent:
    return journal.health_event(
        source=source, commit=commit, actor=actor, verdict=judgement.verdict, healthy=True
    )


def unhealthy(
    source: str, commit: str, *, actor: str, judgement: Judgement, refused: str | None = None
) -> tuple[NewEvent, PassResult]:
    """The `sync.unhealthy` record (once: the commit is judged, and stays until Git or an
    operator moves on) and the failed result; `refused` says why no rollback happened."""
    reason = judgement.reason if refused is None else f"{judgement.reason}; {refused}"
    record = journal.health_event(
        source=source,
        commit=commit,
        actor=actor,
        verdict=judgement.verdict,
        healthy=False,
        reason=reason,
    )
    return record, PassResult(source, "failed", commit, message=reason)
