"""The CLI: `gatekeeper reconcile --once`, `gatekeeper rollback`, `gatekeeper status`."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from kubernetes.client.exceptions import ApiException

from gatekeeper.audit import events
from gatekeeper.audit.signing import generate_keypair, load_verifier
from gatekeeper.audit.verify import verify_store
from gatekeeper.cli import main
from gatekeeper.reconcile.leader import LEASE
from tests.fixtures.cluster import Cluster, wait_for
from tests.integration.reconcile.conftest import FORBIDDEN_POLICY, Harness, config_map

pytestmark = [pytest.mark.integration, pytest.mark.cluster]


@pytest.fixture
def config_file(harness: Harness, cluster: Cluster, tmp_path: Path) -> Path:
    policies = tmp_path / "cli-policies"
    policies.mkdir()
    (policies / "forbidden.rego").write_text(FORBIDDEN_POLICY)
    document = harness.config_document(cluster.kubeconfigs["reconciler"], policies)
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(yaml.safe_dump(document))
    return path


def _cli(config: Path, harness: Harness, *args: str) -> int:
    common = ["--cache-dir", str(harness.work / "cli-mirrors")]
    lease = ["--lease-namespace", harness.namespace]
    extra = [*common, *lease] if args[0] in ("reconcile", "rollback") else []
    return main(["--config", str(config), *args, *extra])


def test_reconcile_once_applies_and_exits_zero_then_non_zero_on_a_rejected_commit(
    harness: Harness, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.commit({"apps/a.yaml": config_map("a", {"v": "1"})})

    assert _cli(config_file, harness, "reconcile", "--once") == 0
    assert harness.core().read_namespaced_config_map("a", harness.namespace).data == {"v": "1"}

    harness.commit({"apps/a.yaml": config_map("a", {"v": "2"})}, signer=None)
    assert _cli(config_file, harness, "reconcile", "--once") == 1
    assert "rejected" in capsys.readouterr().out
    assert harness.core().read_namespaced_config_map("a", harness.namespace).data == {"v": "1"}


def test_rollback_on_the_command_line_records_the_requester_and_status_shows_it(
    harness: Harness, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    first = harness.commit({"apps/a.yaml": config_map("a", {"v": "1"})})
    assert _cli(config_file, harness, "reconcile", "--once") == 0
    harness.commit({"apps/a.yaml": config_map("a", {"v": "2"})})
    assert _cli(config_file, harness, "reconcile", "--once") == 0

    code = _cli(
        config_file,
        harness,
        "rollback",
        harness.name,
        "--to",
        first,
        "--reason",
        "INC-42: v2 breaks checkout",
        "--requested-by",
        "carol",
    )

    assert code == 0
    assert harness.core().read_namespaced_config_map("a", harness.namespace).data == {"v": "1"}
    (rollback,) = harness.records(events.ROLLBACK)
    assert rollback.actor == "carol"
    assert rollback.payload["reason"] == "INC-42: v2 breaks checkout"
    capsys.readouterr()

    assert _cli(config_file, harness, "status", "--format", "json") == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert row["source"] == harness.name
    assert row["synced_commit"] == first
    assert row["held_at"] == first
    assert row["result"] == "applied"
    assert row["health"]["kind"] == "rollback"


def test_rollback_to_an_unverified_commit_exits_one(
    harness: Harness, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    harness.commit({"apps/a.yaml": config_map("a", {"v": "1"})})
    assert _cli(config_file, harness, "reconcile", "--once") == 0
    stranger = harness.commit({"apps/a.yaml": config_map("a", {"v": "x"})}, signer="eve")

    code = _cli(config_file, harness, "rollback", harness.name, "--to", stranger, "--reason", "x")

    assert code == 1
    assert "never verified" in capsys.readouterr().err
    assert harness.records(events.ROLLBACK) == []


def test_status_reports_rejections_and_drift(
    harness: Harness, config_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    synced = harness.commit({"apps/a.yaml": config_map("a", {"v": "1"})})
    assert _cli(config_file, harness, "reconcile", "--once") == 0
    harness.core().patch_namespaced_config_map(
        "a", harness.namespace, {"data": {"v": "edited"}}, field_manager="kubectl-edit"
    )
    harness.commit({"apps/b.yaml": config_map("b", {}, forbidden="true")})
    assert _cli(config_file, harness, "reconcile", "--once") == 1
    capsys.readouterr()

    assert _cli(config_file, harness, "status", "--format", "json") == 0

    (row,) = json.loads(capsys.readouterr().out)
    assert row["synced_commit"] == synced
    assert row["result"] == "rejected"
    assert "labelled forbidden" in row["reasons"][0]
    assert row["drift"]["kind"] == events.DRIFT_CORRECTED
    assert row["drift"]["object"] == f"ConfigMap/{harness.namespace}/a"

    assert _cli(config_file, harness, "status") == 0
    table = capsys.readouterr().out
    assert harness.name in table
    assert synced[:12] in table
    assert "last attempt   rejected at " in table
    assert "labelled forbidden" in table
    assert f"drift.corrected ConfigMap/{harness.namespace}/a" in table


@pytest.mark.slow
def test_the_reconcile_loop_runs_as_a_process_follows_new_commits_and_stops_on_sigterm(
    harness: Harness, config_file: Path
) -> None:
    document = yaml.safe_load(config_file.read_text())
    document["sources"][0]["interval"] = "0.5s"
    private, public = generate_keypair(harness.work / "keys")
    document["audit"] = {"signingKeyFile": str(private), "checkpointInterval": "0.5s"}
    config_file.write_text(yaml.safe_dump(document))
    harness.commit({"apps/a.yaml": config_map("a", {"v": "1"})})
    command = [
        str(Path(sys.executable).parent / "gatekeeper"), "--config", str(config_file), "reconcile",
        "--lease-namespace", harness.namespace, "--identity", "loop-test",
        "--cache-dir", str(harness.work / "loop-mirrors"),
    ]  # fmt: skip
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:

        def data() -> dict[str, str] | None:
            try:
                found = harness.core().read_namespaced_config_map("a", harness.namespace)
            except ApiException:
                return None
            return dict(found.data)

        wait_for(lambda: data() == {"v": "1"}, seconds=30, what="first sync")
        harness.commit({"apps/a.yaml": config_map("a", {"v": "2"})})
        wait_for(lambda: data() == {"v": "2"}, seconds=30, what="second sync")
        lease = harness.kube.get(LEASE, "gatekeeper-reconciler", harness.namespace)
        assert lease["spec"]["holderIdentity"] == "loop-test"
    except AssertionError:
        process.kill()
        output, _ = process.communicate(timeout=30)
        raise AssertionError(f"the loop did not sync; it said:\n{output.decode()}") from None
    process.send_signal(signal.SIGTERM)
    output, _ = process.communicate(timeout=30)

    assert process.returncode == 0, output.decode()
    released = harness.kube.get(LEASE, "gatekeeper-reconciler", harness.namespace)
    assert released["spec"]["holderIdentity"] == ""
    # Signed checkpoints while it ran, and one over the head when it stopped.
    assert harness.store.checkpoints()[-1].seq == harness.store.head()[0]
    assert verify_store(harness.store, load_verifier(public)).ok
