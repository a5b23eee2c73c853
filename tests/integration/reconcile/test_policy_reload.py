"""The reconciler follows policy files: a commit the old set refused is tried again."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from kubernetes.client.exceptions import ApiException

from gatekeeper.audit import events
from gatekeeper.policy.watch import PolicyWatcher
from tests.integration.reconcile.conftest import FORBIDDEN_POLICY, Harness, config_map

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


def _relax(policy_file: Path) -> None:
    """The security team now forbids another label; `forbidden=true` passes."""
    policy_file.write_text(FORBIDDEN_POLICY.replace("labels.forbidden", "labels.banned"))
    later = policy_file.stat().st_mtime_ns + 10**9
    os.utime(policy_file, ns=(later, later))


def test_a_commit_refused_by_policy_is_applied_once_the_policy_changes(
    harness: Harness,
) -> None:
    sha = harness.commit({"apps/a.yaml": config_map("a", {"k": "v"}, forbidden="true")})
    watch = PolicyWatcher(
        harness.engine, record=harness.store.append, component="reconciler", interval=60
    )
    reconciler = harness.reconciler(policy_watch=watch)
    assert reconciler.reconcile(harness.name).outcome == "rejected"
    # The same commit under the same policies is not recorded again.
    assert reconciler.reconcile(harness.name).outcome == "rejected"
    assert len(harness.records(events.SYNC_REJECTED)) == 1

    _relax(Path(harness.engine.policy_set.sources[0]) / "forbidden.rego")
    assert watch.check() == "reloaded"
    result = reconciler.reconcile(harness.name)

    assert (result.outcome, result.commit) == ("applied", sha)
    assert harness.core().read_namespaced_config_map("a", harness.namespace).data == {"k": "v"}
    (reloaded,) = harness.records(events.POLICY_RELOADED)
    assert reloaded.payload["component"] == "reconciler"


def test_the_reconcile_loop_looks_at_the_policy_files_between_passes(harness: Harness) -> None:
    harness.commit({"apps/a.yaml": config_map("a", {"k": "v"}, forbidden="true")})
    watch = PolicyWatcher(
        harness.engine, record=harness.store.append, component="reconciler", interval=0.2
    )
    reconciler = harness.reconciler(harness.source(interval="0.2s"), policy_watch=watch)
    stop = threading.Event()
    loop = threading.Thread(target=reconciler.run, args=(stop,), daemon=True)
    loop.start()
    try:
        deadline = time.monotonic() + 10
        while not harness.records(events.SYNC_REJECTED):
            assert time.monotonic() < deadline, "the loop never looked at the commit"
            time.sleep(0.1)
        _relax(Path(harness.engine.policy_set.sources[0]) / "forbidden.rego")
        while True:
            try:
                harness.core().read_namespaced_config_map("a", harness.namespace)
                break
            except ApiException:
                assert time.monotonic() < deadline + 10, "the loop kept the old policy"
                time.sleep(0.1)
    finally:
        stop.set()
        loop.join(10)
    assert [r.kind for r in harness.records(events.POLICY_RELOADED)] == [events.POLICY_RELOADED]
