"""The last-resort boundary of a pass: whatever one source raises is recorded, never let out."""

from __future__ import annotations

import threading
from collections.abc import Mapping
from typing import Any

import pytest

from gatekeeper.audit import events
from gatekeeper.kube.objects import ResourceType
from gatekeeper.provenance.verdicts import RangeVerdict
from tests.unit.reconcile.fakes import SOURCE, MemoryCluster, MemoryGit, World, config_map


class _CrashingGit(MemoryGit):
    """Git whose verification of one commit raises what nobody foresaw."""

    def __init__(self) -> None:
        super().__init__()
        self.poisoned: set[str] = set()

    def verify(self, *, since: str | None, target: str) -> RangeVerdict:
        if target in self.poisoned:
            raise ValueError("a signature packet of an unknown version")
        return super().verify(since=since, target=target)


class _CrashingCluster(MemoryCluster):
    """A cluster adapter with a bug that shows on one object."""

    def apply(self, manifest: Mapping[str, Any], resource: ResourceType) -> dict[str, Any]:
        if manifest["metadata"]["name"] == "boom":
            raise RuntimeError("unexpected answer")
        return super().apply(manifest, resource)


def test_anything_raised_while_checking_a_commit_rejects_it_once_and_the_synced_one_stays(
    world: World,
) -> None:
    world.git = git = _CrashingGit()
    good = git.commit({"apps/a.yaml": config_map("a", {"k": "v"})})
    reconciler = world.reconciler()
    assert reconciler.reconcile(SOURCE).outcome == "applied"
    bad = git.commit({"apps/a.yaml": config_map("a", {"k": "w"})})
    git.poisoned.add(bad)

    results = [reconciler.reconcile(SOURCE) for _ in range(3)]

    assert [r.outcome for r in results] == ["rejected"] * 3
    (rejected,) = world.store.of(events.SYNC_REJECTED)
    assert rejected.commit == bad
    (reason,) = rejected.payload["reasons"]
    assert reason["kind"] == "error"
    assert "ValueError: a signature packet of an unknown version" in reason["message"]
    assert world.cluster.get("ConfigMap", "a") is not None
    (applied,) = world.store.of(events.SYNC_APPLIED)
    assert applied.commit == good


def test_anything_raised_while_applying_fails_the_pass_and_is_recorded_with_its_cause(
    world: World,
) -> None:
    world.cluster = _CrashingCluster()
    world.git.commit({"apps/boom.yaml": config_map("boom", {"k": "v"})})

    result = world.reconciler().reconcile(SOURCE)

    assert result.outcome == "failed"
    assert result.message == "the pass broke off: RuntimeError: unexpected answer"
    (failed,) = world.store.of(events.SYNC_FAILED)
    assert failed.payload["stage"] == "pass"
    assert failed.payload["error"] == result.message


def test_the_loop_goes_on_after_a_pass_raised(world: World) -> None:
    world.cluster = _CrashingCluster()
    world.git.commit({"apps/boom.yaml": config_map("boom", {"k": "v"})})
    reconciler = world.reconciler(world.source(interval=0.01))
    stop = threading.Event()
    loop = threading.Thread(target=reconciler.run, args=(stop,), daemon=True)

    loop.start()
    try:
        # The backoff is capped by the 10 ms interval: a second failure shows the loop went on.
        for _ in range(100):
            if len(world.store.of(events.SYNC_FAILED)) >= 2:
                break
            stop.wait(0.05)
        assert loop.is_alive()
    finally:
        stop.set()
        loop.join(timeout=10)
    assert len(world.store.of(events.SYNC_FAILED)) >= 2


@pytest.mark.parametrize("error", [KeyboardInterrupt, SystemExit])
def test_an_interrupt_or_an_exit_is_not_swallowed(world: World, error: type[BaseException]) -> None:
    class _Interrupted(MemoryCluster):
        def apply(self, manifest: Mapping[str, Any], resource: ResourceType) -> dict[str, Any]:
            raise error

    world.cluster = _Interrupted()
    world.git.commit({"apps/a.yaml": config_map("a", {"k": "v"})})

    with pytest.raises(error):
        world.reconciler().reconcile(SOURCE)
