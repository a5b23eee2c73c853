"""Notifications beside a real reconciler on the local kube-apiserver: Kubernetes Events on
the drifted object and on the source's object for a refused commit, a slow receiver that
never holds up a pass, and `reconcile --once` delivering what its pass recorded."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from gatekeeper.audit import events
from gatekeeper.cli import main
from gatekeeper.notify.notifier import Notifier
from gatekeeper.settings import Settings
from tests.fixtures.cluster import Cluster, wait_for
from tests.fixtures.receiver import Receiver, free_port
from tests.integration.reconcile.conftest import Harness, config_map

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver(port=free_port())
    yield found
    found.down()


def _settings(tmp_path: Path, *targets: dict[str, Any]) -> Settings:
    return Settings(
        notifications={"targets": list(targets), "pollInterval": "50ms"},
        _config_dir=tmp_path,  # type: ignore[call-arg]
    )


def _events_target(harness: Harness) -> dict[str, Any]:
    return {
        "name": "events",
        "type": "kubernetesEvents",
        "kinds": ["drift.detected", "sync.rejected"],
        "sourceObject": {"namespace": harness.namespace},
    }


def _events(harness: Harness, name: str) -> list[client.CoreV1Event]:
    found = client.CoreV1Api(harness.admin).list_namespaced_event(
        harness.namespace, field_selector=f"involvedObject.name={name}"
    )
    return list(found.items)


def test_drift_and_a_rejected_commit_become_events_on_their_objects(
    harness: Harness, tmp_path: Path
) -> None:
    notifier = Notifier.from_settings(
        _settings(tmp_path, _events_target(harness)), harness.store, kube=harness.kube
    )
    notifier.open_cursors()
    harness.commit({"apps/a.yaml": config_map("a", {"color": "blue"})})
    reconciler = harness.reconciler()
    reconciler.reconcile(harness.name)
    client.CoreV1Api(harness.alice).patch_namespaced_config_map(
        "a", harness.namespace, {"data": {"color": "red"}}, field_manager="kubectl-edit"
    )
    reconciler.reconcile(harness.name)
    harness.commit({"apps/a.yaml": config_map("a", {"color": "green"})}, signer=None)
    assert reconciler.reconcile(harness.name).outcome == "rejected"
    assert notifier.drain(10.0)

    (drift,) = _events(harness, "a")
    live = harness.core().read_namespaced_config_map("a", harness.namespace)
    assert drift.reason == "DriftDetected"
    assert drift.type == "Warning"
    assert drift.involved_object.kind == "ConfigMap"
    assert drift.involved_object.uid == live.metadata.uid  # so `kubectl describe` shows it
    assert "data.color" in drift.message and "kubectl-edit" in drift.message
    (detected,) = harness.records(events.DRIFT_DETECTED)
    assert drift.metadata.annotations["gatekeeper.dev/audit-seq"] == str(detected.seq)

    (rejected,) = _events(harness, "gatekeeper-reconciler")
    assert rejected.reason == "SyncRejected"
    assert rejected.involved_object.kind == "Lease"
    assert "rejected" in rejected.message
    # Delivered again (a restart before the cursor moved): the same Event, not a second.
    notifier.consumers[0]._send(detected)
    assert len(_events(harness, "a")) == 1


def test_a_slow_receiver_never_holds_up_a_pass(
    harness: Harness, receiver: Receiver, tmp_path: Path
) -> None:
    receiver.delay = 3.0
    receiver.up()
    target = {"name": "slow", "type": "webhook", "url": receiver.url, "kinds": ["sync.applied"]}
    notifier = Notifier.from_settings(_settings(tmp_path, target), harness.store, kube=None)
    reconciler = harness.reconciler()
    harness.commit({"apps/a.yaml": config_map("a", {"v": "0"})})
    started = time.perf_counter()
    reconciler.reconcile(harness.name)
    alone = time.perf_counter() - started

    notifier.start()
    try:
        taken = []
        for n in range(1, 4):
            harness.commit({"apps/a.yaml": config_map("a", {"v": str(n)})})
            started = time.perf_counter()
            assert reconciler.reconcile(harness.name).outcome == "applied"
            taken.append(time.perf_counter() - started)
        wait_for(lambda: receiver.attempts >= 1, seconds=5)
        print(f"pass {alone:.3f} s alone; {max(taken):.3f} s at most with a 3 s receiver")
        assert max(taken) < receiver.delay  # no pass waited for a delivery
        wait_for(lambda: len(receiver.deliveries) == 3, seconds=20)
    finally:
        notifier.stop()
    assert [body["kind"] for body in receiver.bodies()] == ["sync.applied"] * 3


def test_reconcile_once_delivers_what_its_pass_recorded(
    harness: Harness, receiver: Receiver, cluster: Cluster, tmp_path: Path
) -> None:
    receiver.up()
    policies = tmp_path / "cli-policies"
    policies.mkdir()
    document = harness.config_document(cluster.kubeconfigs["reconciler"], policies)
    document |= {
        "notifications": {
            "targets": [
                {
                    "name": "hook",
                    "type": "webhook",
                    "url": receiver.url,
                    "kinds": ["sync.applied", "sync.rejected"],
                }
            ]
        },
    }
    config = tmp_path / "gatekeeper.yaml"
    config.write_text(yaml.safe_dump(document))
    harness.commit({"apps/a.yaml": config_map("a", {"v": "1"})})
    common = ["--cache-dir", str(harness.work / "cli"), "--lease-namespace", harness.namespace]

    assert main(["--config", str(config), "reconcile", "--once", *common]) == 0
    assert [body["kind"] for body in receiver.bodies()] == ["sync.applied"]
    harness.commit({"apps/a.yaml": config_map("a", {"v": "2"})}, signer=None)
    assert main(["--config", str(config), "reconcile", "--once", *common]) == 1
    assert [body["kind"] for body in receiver.bodies()] == ["sync.applied", "sync.rejected"]
