"""Health of workloads judged from their status, in the manner of kstatus (pure functions).

Deployments, StatefulSets, DaemonSets and Jobs have a notion of readiness; every other kind
is Current as soon as it exists. An object whose controller has not yet seen its latest
generation is InProgress, whatever its status says.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

WORKLOAD_KINDS: Final = frozenset({"Deployment", "StatefulSet", "DaemonSet", "Job"})


class Status(enum.StrEnum):
    CURRENT = "Current"
    IN_PROGRESS = "InProgress"
    FAILED = "Failed"


@dataclass(frozen=True)
class Health:
    status: Status
    message: str

    @property
    def healthy(self) -> bool:
        return self.status is Status.CURRENT


def _conditions(status: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    for condition in status.get("conditions") or []:
        if isinstance(condition, Mapping) and isinstance(condition.get("type"), str):
            found[condition["type"]] = condition
    return found


def _int(mapping: Mapping[str, Any], key: str, default: int = 0) -> int:
    value = mapping.get(key)
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def assess(obj: Mapping[str, Any]) -> Health:
    """The health of one live object."""
    kind = obj.get("kind")
    if kind not in WORKLOAD_KINDS:
        return Health(Status.CURRENT, "exists")
    metadata = obj.get("metadata") or {}
    status = obj.get("status") or {}
    generation = _int(metadata, "generation", 0)
    observed = _int(status, "observedGeneration", -1)
    if kind != "Job" and observed < generation:
        return Health(
            Status.IN_PROGRESS,
            f"generation {generation} not yet observed (observed {max(observed, 0)})",
        )
    spec = obj.get("spec") or {}
    if kind == "Deployment":
        return _deployment(spec, status)
    if kind == "StatefulSet":
        return _statefulset(spec, status)
    if kind == "DaemonSet":
        return _daemonset(status)
    return _job(spec, status)


def _deployment(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    conditions = _conditions(status)
    progressing = conditions.get("Progressing")
    if progressing is not None and progressing.get("reason") == "ProgressDeadlineExceeded":
        return Health(Status.FAILED, str(progressing.get("message") or "progress deadline"))
    wanted = _int(spec, "replicas", 1)
    updated = _int(status, "updatedReplicas")
    total = _int(status, "replicas")
    available = _int(status, "availableReplicas")
    if updated < wanted:
        return Health(Status.IN_PROGRESS, f"{updated} of {wanted} replicas updated")
    if total > updated:
        return Health(Status.IN_PROGRESS, f"{total - updated} old replicas still running")
    if available < wanted:
        return Health(Status.IN_PROGRESS, f"{available} of {wanted} replicas available")
    return Health(Status.CURRENT, f"{available} of {wanted} replicas available")


def _statefulset(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    wanted = _int(spec, "replicas", 1)
    ready = _int(status, "readyReplicas")
    updated = _int(status, "updatedReplicas")
    strategy = (spec.get("updateStrategy") or {}).get("type", "RollingUpdate")
    if ready < wanted:
        return Health(Status.IN_PROGRESS, f"{ready} of {wanted} replicas ready")
    if strategy == "RollingUpdate":
        if updated < wanted:
            return Health(Status.IN_PROGRESS, f"{updated} of {wanted} replicas updated")
        current, update = status.get("currentRevision"), status.get("updateRevision")
        if update and current != update:
            return Health(Status.IN_PROGRESS, f"revision {update} rolling out")
    return Health(Status.CURRENT, f"{ready} of {wanted} replicas ready")


def _daemonset(status: Mapping[str, Any]) -> Health:
    wanted = _int(status, "desiredNumberScheduled", -1)
    if wanted < 0:
        return Health(Status.IN_PROGRESS, "not yet scheduled")
    updated = _int(status, "updatedNumberScheduled")
    available = _int(status, "numberAvailable")
    if updated < wanted:
        return Health(Status.IN_PROGRESS, f"{updated} of {wanted} pods updated")
    if available < wanted:
        return Health(Status.IN_PROGRESS, f"{available} of {wanted} pods available")
    return Health(Status.CURRENT, f"{available} of {wanted} pods available")


def _job(spec: Mapping[str, Any], status: Mapping[str, Any]) -> Health:
    conditions = _conditions(status)
    failed = conditions.get("Failed")
    if failed is not None and failed.get("status") == "True":
        return Health(Status.FAILED, str(failed.get("message") or failed.get("reason") or "failed"))
    complete = conditions.get("Complete")
    if complete is not None and complete.get("status") == "True":
        return Health(Status.CURRENT, "complete")
    wanted = _int(spec, "completions", 1)
    return Health(Status.IN_PROGRESS, f"{_int(status, 'succeeded')} of {wanted} completions")


@dataclass(frozen=True)
class Verdict:
    """The health of a set of objects: the worst status wins."""

    status: Status
    unhealthy: tuple[tuple[str, Health], ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": str(self.status),
            "unhealthy": [
                {"object": name, "status": str(h.status), "message": h.message}
                for name, h in self.unhealthy
            ],
        }


def summarise(objects: Iterable[tuple[str, Mapping[str, Any] | None]]) -> Verdict:
    """The combined health of (name, live object) pairs; a missing object is InProgress."""
    unhealthy: list[tuple[str, Health]] = []
    for name, obj in objects:
        health = Health(Status.IN_PROGRESS, "not found") if obj is None else assess(obj)
        if not health.healthy:
            unhealthy.append((name, health))
    if any(h.status is Status.FAILED for _, h in unhealthy):
        status = Status.FAILED
    elif unhealthy:
        status = Status.IN_PROGRESS
    else:
        status = Status.CURRENT
    return Verdict(status, tuple(sorted(unhealthy, key=lambda item: item[0])))
