"""The whole demo scenario against the test run's control plane, in a fresh folder."""

from __future__ import annotations

import json
import os
import re
import secrets
import signal
import subprocess
import sys

import httpx
import pytest
from kubernetes import client
from rich.console import Console

from gatekeeper import cli
from gatekeeper.audit.signing import load_verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.verify import verify_store
from gatekeeper.demo import dashboard, workspace
from gatekeeper.demo.narration import Narrator
from gatekeeper.demo.scenario import Outcome, Scenario
from gatekeeper.settings import load_settings
from tests.fixtures.cluster import Cluster
from tests.fixtures.commands import Output

# One group, so that xdist runs the tests on one worker and the scenario only once.
pytestmark = [
    pytest.mark.integration,
    pytest.mark.cluster,
    pytest.mark.slow,
    pytest.mark.xdist_group("demo"),
]

EXPECTED_KINDS = {
    "sync.applied",
    "sync.rejected",
    "policy.denied",
    "admission.allowed",
    "admission.denied",
    "breakglass",
    "drift.detected",
    "drift.corrected",
    "rollback",
}


@pytest.fixture(scope="module")
def finished_demo(
    tmp_path_factory: pytest.TempPathFactory, cluster: Cluster
) -> tuple[Outcome, str, str]:
    """Run the scenario once on the shared plane, in its own namespace; its outcome and output.

    The shared plane is reused rather than a second one started: a namespace and a source of
    its own, and a webhook scoped to that namespace, keep it apart from parallel tests.
    """
    if cluster.impersonate:
        pytest.skip("the demo needs a kubeconfig per user, not impersonation")
    namespace = f"demo-{secrets.token_hex(4)}"
    console = Console(record=True, width=120, force_terminal=False)
    scenario = Scenario(
        directory=workspace.prepare(tmp_path_factory.mktemp("demo")),
        namespace=namespace,
        narrator=Narrator(console),
        cli=lambda argv: cli.main(list(argv)),
        cluster=workspace.ClusterAccess(
            kubeconfigs=cluster.kubeconfigs, webhook_client_ca=cluster.webhook_client_ca
        ),
    )
    outcome = scenario.run()
    return outcome, namespace, console.export_text()


def test_the_demo_writes_a_report_in_every_format_from_a_log_that_verifies(
    finished_demo: tuple[Outcome, str, str],
) -> None:
    outcome, _, _ = finished_demo

    assert set(outcome.reports) == {"html", "pdf", "json"}
    assert outcome.reports["pdf"].read_bytes().startswith(b"%PDF")
    assert b"<html" in outcome.reports["html"].read_bytes().lower()
    report = json.loads(outcome.reports["json"].read_text())
    assert report["integrity"]["ok"] is True
    # The demo's checkpoint, then one after each report made before the JSON one (HTML, PDF):
    # every report is recorded as report.generated and covered at once. The webhook and the
    # reconciler sign their own as well (the first one as soon as the log has records).
    assert report["integrity"]["checkpoints"] >= 3
    assert {event["kind"] for event in report["events"]} >= EXPECTED_KINDS
    made = [event for event in report["events"] if event["kind"] == "report.generated"]
    assert [event["payload"]["via"] for event in made] == ["cli", "cli"]
    settings = load_settings(outcome.config_file)
    store = AuditStore.from_settings(settings)
    try:
        public_key = settings.audit.public_key_file
        assert public_key is not None
        verified = verify_store(store, load_verifier(public_key))
        assert verified.ok, verified.findings
        assert verified.records == outcome.records
    finally:
        store.close()


def test_the_demo_leaves_the_cluster_at_the_rolled_back_commit_without_its_webhook(
    finished_demo: tuple[Outcome, str, str], admin_api: client.ApiClient
) -> None:
    outcome, namespace, _ = finished_demo

    live = client.AppsV1Api(admin_api).read_namespaced_deployment("web", namespace)
    assert live.metadata.annotations["gatekeeper.dev/commit"] == outcome.first_commit
    assert live.spec.replicas == 2
    assert outcome.last_commit != outcome.first_commit
    webhooks = client.AdmissionregistrationV1Api(admin_api).list_validating_webhook_configuration()
    assert not [w for w in webhooks.items if namespace in w.metadata.name]


def test_the_demo_narrates_each_step_with_the_webhooks_refusal(
    finished_demo: tuple[Outcome, str, str],
) -> None:
    _, namespace, output = finished_demo

    for number in range(1, 9):
        assert f"Step {number}:" in output
    assert f"UPDATE of apps/Deployment/{namespace}/web refused" in " ".join(output.split())
    assert "rejected (audit seq" in output
    assert "the log verifies" in output


def test_the_demos_dashboard_serves_the_run_to_the_printed_token_until_sigterm(
    finished_demo: tuple[Outcome, str, str],
) -> None:
    """The dashboard step for real, in a process of its own, on the finished run's folder."""
    outcome, _, _ = finished_demo
    folder = outcome.directory
    environment = {k: v for k, v in os.environ.items() if not k.startswith("GATEKEEPER_")}
    command = [sys.executable, "-m", "gatekeeper.cli", "demo", "--dir", str(folder)]
    with subprocess.Popen(
        [*command, "--dashboard-only", "--dashboard-port", "0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=environment,
    ) as demo:
        output = Output(demo)
        try:
            printed = output.wait_for("serving until Ctrl-C", seconds=90)
            url = re.search(r"✔ dashboard: (http://127\.0\.0\.1:\d+/)", printed)
            token = re.search(r"✔ token: (\S+)", printed)
            assert url and token, printed
            (pid_file,) = (folder / dashboard.FOLDER).glob("*.pid")
            served_by = int(pid_file.read_text())
            assert served_by != demo.pid and dashboard.is_running(served_by)

            with httpx.Client(base_url=url[1], trust_env=False, timeout=10) as http:
                signed_in = {"Authorization": f"Bearer {token[1]}"}
                answer = http.get("api/v1/integrity", headers=signed_in)
                assert answer.status_code == 200, answer.text
                integrity = answer.json()
                assert integrity["status"] in ("verified", "partly-verified")
                assert integrity["records"] >= outcome.records
                assert integrity["last_checkpoint"] is not None
                assert http.get("api/v1/integrity").status_code == 401

            demo.send_signal(signal.SIGTERM)
            assert demo.wait(timeout=30) == 0, output.rest()
        finally:
            if demo.poll() is None:
                demo.kill()
                # Its dashboard runs in a session of its own: do not leave it serving.
                dashboard.stop_leftovers(folder, folder / workspace.CONFIG_FILE)
            output.rest()
    assert "dashboard stopped" in output.rest()
    assert not dashboard.is_running(served_by)
    assert not list((folder / dashboard.FOLDER).glob("*.pid"))
    with pytest.raises(httpx.ConnectError):
        httpx.get(url[1] + "healthz", trust_env=False)
