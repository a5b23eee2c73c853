"""End to end: replicas share one Lease; only its holder applies."""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import pytest

from gatekeeper.audit import events
from gatekeeper.kube.client import KubeClient
from gatekeeper.kube.objects import ResourceType
from gatekeeper.reconcile.leader import LEASE, LeaderElector, LeaseError
from tests.integration.reconcile.conftest import Harness, config_map

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]


@dataclass
class ApplyLog:
    """Every apply call each replica made, with when it started and ended."""

    calls: list[tuple[str, float, float]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)


class RecordingKube:
    """The real client, noting when each apply runs (to check replicas never overlap)."""

    def __init__(self, real: KubeClient, name: str, log: ApplyLog) -> None:
        self._real = real
        self._name = name
        self._log = log

    def apply(self, manifest: Mapping[str, Any], resource: ResourceType) -> dict[str, Any]:
        started = time.monotonic()
        try:
            return self._real.apply(manifest, resource)
        finally:
            with self._log.lock:
                self._log.calls.append((self._name, started, time.monotonic()))

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def _elector(harness: Harness, identity: str, duration: float = 2.0) -> LeaderElector:
    return LeaderElector(
        harness.kube,
        namespace=harness.namespace,
        name="reconciler",
        identity=identity,
        duration=duration,
    )


def test_a_second_replica_waits_while_the_lease_is_renewed_and_takes_over_when_released(
    harness: Harness,
) -> None:
    first, second = _elector(harness, "one"), _elector(harness, "two")

    assert first.try_acquire()
    assert not second.try_acquire()
    assert first.try_acquire()  # renewing
    assert not second.try_acquire()
    first.release()

    assert second.try_acquire()
    assert not first.try_acquire()
    lease = harness.kube.get(LEASE, "reconciler", harness.namespace)
    assert lease["spec"]["holderIdentity"] == "two"
    assert lease["spec"]["leaseTransitions"] == 1


def test_a_lease_its_holder_stops_renewing_is_taken_over_after_a_full_duration(
    harness: Harness,
) -> None:
    first, second = _elector(harness, "one", 1.0), _elector(harness, "two", 1.0)
    assert first.try_acquire()
    assert not second.try_acquire()

    time.sleep(0.7)
    assert not first.is_leader()  # past its renew deadline, the holder stops acting
    assert not second.try_acquire()  # but the others wait the whole duration
    time.sleep(0.5)

    assert second.try_acquire()
    assert not first.try_acquire()


def test_two_reconcilers_on_one_lease_never_apply_at_the_same_time(harness: Harness) -> None:
    log = ApplyLog()
    source = harness.source(interval="0.2s")
    names = ("one", "two")
    replicas = {
        name: harness.reconciler(
            source,
            elector=_elector(harness, name),
            kube=RecordingKube(harness.kube, name, log),
        )
        for name in names
    }
    stops = {name: threading.Event() for name in names}
    threads = {
        name: threading.Thread(target=replicas[name].run, args=(stops[name],), daemon=True)
        for name in names
    }
    harness.commit({"apps/a.yaml": config_map("a", {"round": "0"})})
    for thread in threads.values():
        thread.start()
    for n in range(1, 4):
        time.sleep(0.6)
        harness.commit({"apps/a.yaml": config_map("a", {"round": str(n)})})
    time.sleep(0.8)
    leader = log.calls[0][0]
    follower = next(name for name in names if name != leader)
    stops[leader].set()
    threads[leader].join(timeout=10)
    for n in range(4, 6):
        harness.commit({"apps/a.yaml": config_map("a", {"round": str(n)})})
        time.sleep(0.8)
    time.sleep(1.0)
    stops[follower].set()
    threads[follower].join(timeout=10)

    calls = sorted(log.calls, key=lambda call: call[1])
    # Before the leader stopped, only it applied; after, only the other one did.
    switch = next(i for i, call in enumerate(calls) if call[0] == follower)
    assert all(call[0] == leader for call in calls[:switch])
    assert all(call[0] == follower for call in calls[switch:])
    last_of_leader = max(call[2] for call in calls if call[0] == leader)
    first_of_follower = min(call[1] for call in calls if call[0] == follower)
    assert last_of_leader <= first_of_follower
    applied = [r.commit for r in harness.records(events.SYNC_APPLIED)]
    assert applied[-1] == harness.repo.head
    live = harness.core().read_namespaced_config_map("a", harness.namespace)
    assert live.data == {"round": "5"}


def test_a_lease_in_a_namespace_that_does_not_exist_is_an_error_not_a_lost_election(
    harness: Harness,
) -> None:
    elector = LeaderElector(
        harness.kube, namespace="no-such-namespace", name="reconciler", identity="one"
    )
    with pytest.raises(LeaseError, match="does the namespace exist"):
        elector.try_acquire()


def test_a_long_pass_renews_the_lease_between_steps_and_keeps_it(harness: Harness) -> None:
    elector = _elector(harness, "one", duration=1.0)
    other = _elector(harness, "two", duration=1.0)
    assert elector.try_acquire()
    for _ in range(6):  # three durations of work, checked between steps
        time.sleep(0.3)
        assert elector.renew_if_due()
        assert not other.try_acquire()
    assert elector.is_leader()
