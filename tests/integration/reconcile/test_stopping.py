"""`gatekeeper reconcile` stopped by SIGTERM: idle, and in the middle of an apply.

Real processes on the test cluster: what was applied is recorded exactly (`sync.failed` names
what was and was not), the Lease is given up at once and a second replica waiting for it takes
over within one renew period, the command exits 0 (130 for an interrupted --once), and
`gatekeeper audit verify` passes.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from gatekeeper.audit import events
from gatekeeper.audit.signing import generate_keypair
from gatekeeper.kube import contract
from gatekeeper.reconcile.leader import LEASE
from gatekeeper.reconcile.service import LeaseOptions
from tests.fixtures.cluster import Cluster, wait_for
from tests.fixtures.commands import ROOT, Command, clean_environment
from tests.integration.reconcile.conftest import Harness, config_map

pytestmark = [pytest.mark.integration, pytest.mark.cluster, pytest.mark.slow]

LEASE_NAME = "gatekeeper-reconciler"
# One renew period: a leader renews when a third of the Lease's duration has passed.
RENEW_PERIOD = LeaseOptions().duration / 3
MANY = 400


@pytest.fixture
def config_file(harness: Harness, cluster: Cluster, tmp_path: Path) -> Path:
    private, public = generate_keypair(tmp_path / "keys")
    document = harness.config_document(
        cluster.kubeconfigs["reconciler"], ROOT / "policies", interval="1s"
    )
    document["audit"] = {"signingKeyFile": str(private), "publicKeyFile": str(public)}
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _reconcile(config: Path, harness: Harness, identity: str, *extra: str) -> Command:
    return Command(
        [
            "--config",
            str(config),
            "reconcile",
            *extra,
            "--lease-namespace",
            harness.namespace,
            "--identity",
            identity,
            "--cache-dir",
            str(harness.work / f"mirrors-{identity}"),
        ],
        env=clean_environment(),
    )


@pytest.fixture
def replicas() -> Iterator[list[Command]]:
    started: list[Command] = []
    yield started
    for command in started:
        command.kill()


def _holder(harness: Harness) -> str | None:
    lease = harness.kube.get(LEASE, LEASE_NAME, harness.namespace)
    return None if lease is None else str(lease["spec"].get("holderIdentity") or "")


def _from_commit(harness: Harness, commit: str) -> set[str]:
    """The ConfigMaps in the cluster that came from `commit`, as the records name them."""
    found = harness.core().list_namespaced_config_map(
        harness.namespace, label_selector=f"{contract.MANAGED_LABEL}=true"
    )
    return {
        f"ConfigMap/{harness.namespace}/{item.metadata.name}"
        for item in found.items
        if (item.metadata.annotations or {}).get(contract.COMMIT_ANNOTATION) == commit
    }


def _many(harness: Harness) -> str:
    documents = [config_map(f"cm-{i:03d}", {"n": str(i)}) for i in range(MANY)]
    return harness.commit({"apps/many.yaml": "---\n".join(documents)})


def _wait_until_some_applied(harness: Harness, commit: str) -> None:
    """Back as soon as the first objects of `commit` are in the cluster, the rest not yet."""
    deadline = time.monotonic() + 60
    while not _from_commit(harness, commit):
        assert time.monotonic() < deadline, "the apply never started"
        time.sleep(0.02)


def _wait_for_first_sync(harness: Harness, command: Command) -> None:
    deadline = time.monotonic() + 60
    while not harness.records(events.SYNC_APPLIED):
        assert command.process.poll() is None, command.rest()
        assert time.monotonic() < deadline, f"no first sync; it printed:\n{command.text()}"
        time.sleep(0.1)


def _verify(config: Path) -> None:
    verify = Command(["--config", str(config), "audit", "verify"])
    assert verify.wait(60) == 0, verify.rest()


def _failed_record(harness: Harness, commit: str) -> dict[str, Any]:
    (failed,) = [r for r in harness.records(events.SYNC_FAILED) if r.commit == commit]
    assert failed.payload["stage"] == "apply"
    assert "asked to stop (SIGTERM" in failed.payload["error"]
    return dict(failed.payload)


def test_sigterm_mid_apply_records_exactly_what_was_applied_and_hands_the_lease_over(
    harness: Harness, config_file: Path, replicas: list[Command]
) -> None:
    harness.commit({"apps/first.yaml": config_map("first", {"v": "1"})})
    first = _reconcile(config_file, harness, "first")
    replicas.append(first)
    _wait_for_first_sync(harness, first)
    assert _holder(harness) == "first"
    second = _reconcile(config_file, harness, "second")  # waits for the Lease meanwhile
    replicas.append(second)
    second.wait_for("standby", seconds=60)

    commit = _many(harness)
    _wait_until_some_applied(harness, commit)
    first.signal(signal.SIGTERM)
    assert first.wait(30) == 0, first.rest()
    stopped = time.monotonic()
    output = first.rest()
    assert "Traceback" not in output, output

    payload = _failed_record(harness, commit)
    applied, not_applied = set(payload["applied"]), set(payload["not_applied"])
    assert applied and not_applied, "the signal did not land mid-apply"
    # Every object of the commit (the many, and `first` again), each on one side only.
    assert len(applied | not_applied) == MANY + 1 and not applied & not_applied
    # The second replica may already be applying the rest; until it writes, the record is
    # the truth: what it says was applied is in the cluster from that commit, exactly.
    if _holder(harness) != "second":
        assert _from_commit(harness, commit) == applied

    wait_for(lambda: _holder(harness) == "second", seconds=RENEW_PERIOD, what="takeover")
    took = time.monotonic() - stopped
    assert took <= RENEW_PERIOD
    wait_for(
        lambda: len(_from_commit(harness, commit)) == MANY + 1,
        seconds=60,
        what="the rest applied",
    )
    second.signal(signal.SIGTERM)
    assert second.wait(30) == 0, second.rest()
    assert _holder(harness) == ""
    _verify(config_file)


def test_sigterm_when_idle_releases_the_lease_at_once_and_exits_zero(
    harness: Harness, config_file: Path, replicas: list[Command]
) -> None:
    harness.commit({"apps/a.yaml": config_map("a", {"v": "1"})})
    loop = _reconcile(config_file, harness, "idle")
    replicas.append(loop)
    _wait_for_first_sync(harness, loop)
    time.sleep(1.5)  # a few idle passes
    sent = loop.signal(signal.SIGTERM)
    assert loop.wait(30) == 0, loop.rest()
    assert time.monotonic() - sent < 10
    assert _holder(harness) == ""
    assert harness.records(events.SYNC_FAILED) == []
    _verify(config_file)


def test_sigterm_mid_apply_of_a_single_pass_exits_130_with_the_apply_recorded(
    harness: Harness, config_file: Path, replicas: list[Command]
) -> None:
    commit = _many(harness)
    once = _reconcile(config_file, harness, "once", "--once")
    replicas.append(once)
    _wait_until_some_applied(harness, commit)
    once.signal(signal.SIGTERM)
    assert once.wait(30) == 130, once.rest()
    assert "stopped on request" in once.rest()
    payload = _failed_record(harness, commit)
    assert _from_commit(harness, commit) == set(payload["applied"])
    assert payload["not_applied"]
    assert _holder(harness) == ""
    # A single pass signs no checkpoint (the loop does); one is signed on demand here.
    checkpoint = Command(["--config", str(config_file), "audit", "checkpoint"])
    assert checkpoint.wait(60) == 0, checkpoint.rest()
    _verify(config_file)


def test_with_no_sources_the_loop_leads_and_stops_instead_of_failing(
    harness: Harness, config_file: Path, tmp_path: Path, replicas: list[Command]
) -> None:
    # A chart installed before any source is configured must not crash-loop its reconciler.
    document = yaml.safe_load(config_file.read_text())
    document["sources"] = []
    empty = tmp_path / "no-sources.yaml"
    empty.write_text(yaml.safe_dump(document))
    idle = _reconcile(empty, harness, "idle")
    replicas.append(idle)

    idle.wait_for("no sources are configured", seconds=60)
    wait_for(lambda: _holder(harness) == "idle", seconds=30, what="the Lease")
    idle.signal(signal.SIGTERM)
    assert idle.wait(30) == 0, idle.rest()
    assert _holder(harness) in (None, "")
    once = Command(["--config", str(empty), "reconcile", "--once"], env=clean_environment())
    assert once.wait(60) == 2
    assert "no sources are configured" in once.rest()
