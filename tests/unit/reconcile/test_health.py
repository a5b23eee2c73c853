"""Workload health from status, kstatus style."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from gatekeeper.reconcile.health import Status, assess, summarise


def _deployment(wanted: int = 2, generation: int = 3, **status: Any) -> dict[str, Any]:
    return {
        "kind": "Deployment",
        "metadata": {"generation": generation},
        "spec": {"replicas": wanted},
        "status": status,
    }


def test_a_deployment_with_every_replica_updated_and_available_is_current() -> None:
    health = assess(
        _deployment(observedGeneration=3, replicas=2, updatedReplicas=2, availableReplicas=2)
    )
    assert health.status is Status.CURRENT


def test_a_deployment_whose_controller_has_not_seen_the_latest_generation_is_in_progress() -> None:
    health = assess(
        _deployment(observedGeneration=2, replicas=2, updatedReplicas=2, availableReplicas=2)
    )
    assert health.status is Status.IN_PROGRESS
    assert "generation 3 not yet observed" in health.message


@pytest.mark.parametrize(
    ("status", "fragment"),
    [
        ({"replicas": 2, "updatedReplicas": 1, "availableReplicas": 2}, "1 of 2 replicas updated"),
        ({"replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}, "old replicas"),
        (
            {"replicas": 2, "updatedReplicas": 2, "availableReplicas": 1},
            "1 of 2 replicas available",
        ),
    ],
)
def test_a_deployment_mid_rollout_is_in_progress(status: dict[str, int], fragment: str) -> None:
    health = assess(_deployment(observedGeneration=3, **status))
    assert health.status is Status.IN_PROGRESS
    assert fragment in health.message


def test_a_deployment_past_its_progress_deadline_has_failed() -> None:
    condition = {"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded"}
    health = assess(_deployment(observedGeneration=3, conditions=[condition]))
    assert health.status is Status.FAILED


def test_a_statefulset_is_current_once_ready_updated_and_on_one_revision() -> None:
    base = {"kind": "StatefulSet", "metadata": {"generation": 1}, "spec": {"replicas": 2}}
    rolling = {
        "observedGeneration": 1,
        "readyReplicas": 2,
        "updatedReplicas": 2,
        "currentRevision": "a",
        "updateRevision": "b",
    }
    assert assess({**base, "status": rolling}).status is Status.IN_PROGRESS
    assert assess({**base, "status": {**rolling, "currentRevision": "b"}}).status is Status.CURRENT


def test_a_daemonset_is_current_when_every_scheduled_pod_is_updated_and_available() -> None:
    base = {"kind": "DaemonSet", "metadata": {"generation": 1}}
    status = {
        "observedGeneration": 1,
        "desiredNumberScheduled": 3,
        "updatedNumberScheduled": 3,
        "numberAvailable": 2,
    }
    assert assess({**base, "status": status}).status is Status.IN_PROGRESS
    assert assess({**base, "status": {**status, "numberAvailable": 3}}).status is Status.CURRENT


@pytest.mark.parametrize(
    ("conditions", "expected"),
    [
        ([], Status.IN_PROGRESS),
        ([{"type": "Complete", "status": "True"}], Status.CURRENT),
        ([{"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded"}], Status.FAILED),
    ],
)
def test_a_job_is_judged_by_its_conditions(
    conditions: list[dict[str, str]], expected: Status
) -> None:
    job = {"kind": "Job", "metadata": {"generation": 1}, "status": {"conditions": conditions}}
    assert assess(job).status is expected


@settings(deadline=None)
@given(
    st.sampled_from(["ConfigMap", "Service", "Secret", "Role"]),
    st.dictionaries(st.text(), st.text()),
)
def test_kinds_without_a_rollout_are_current_whatever_their_status(
    kind: str, status: dict[str, str]
) -> None:
    assert assess({"kind": kind, "status": status}).status is Status.CURRENT


def test_the_worst_status_of_a_set_wins_and_missing_objects_are_in_progress() -> None:
    failed = _deployment(
        observedGeneration=3,
        conditions=[{"type": "Progressing", "reason": "ProgressDeadlineExceeded"}],
    )
    verdict = summarise([("a", {"kind": "ConfigMap"}), ("b", None), ("c", failed)])
    assert verdict.status is Status.FAILED
    assert [name for name, _ in verdict.unhealthy] == ["b", "c"]
    assert summarise([("b", None)]).status is Status.IN_PROGRESS
    assert summarise([]).status is Status.CURRENT
