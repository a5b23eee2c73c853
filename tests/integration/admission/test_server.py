"""The webhook served for real: uvicorn over TLS with certificate reload, and `gatekeeper serve`."""

from __future__ import annotations

import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gatekeeper.admission import server as admission_server
from gatekeeper.admission.app import create_app
from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.signing import generate_keypair, load_verifier
from gatekeeper.audit.store import AuditStore
from gatekeeper.audit.verify import verify_store
from gatekeeper.devcluster.pki import CertificateAuthority
from gatekeeper.settings import Settings

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[3]
REVIEW = {
    "apiVersion": "admission.k8s.io/v1",
    "kind": "AdmissionReview",
    "request": {
        "uid": "b7f4e3c2-0000-4000-8000-000000000001",
        "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
        "resource": {"group": "", "version": "v1", "resource": "configmaps"},
        "namespace": "shop",
        "name": "notes",
        "operation": "CREATE",
        "userInfo": {"username": "alice", "groups": ["developers"]},
        "object": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "notes", "namespace": "shop"},
        },
    },
}


def _issue(folder: Path) -> tuple[bytes, Path, Path]:
    ca = CertificateAuthority.create("webhook test CA")
    issued = ca.issue_server("127.0.0.1", ips=("127.0.0.1",), dns_names=())
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "tls.crt").write_bytes(issued.cert_pem)
    (folder / "tls.key").write_bytes(issued.key_pem)
    return ca.cert_pem, folder / "tls.crt", folder / "tls.key"


def _migrated_store(path: Path) -> AuditStore:
    engine = create_database_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    return AuditStore(engine)


def _handshake_trusts(port: int, ca_pem: bytes) -> bool:
    context = ssl.create_default_context(cadata=ca_pem.decode())
    try:
        with (
            socket.create_connection(("127.0.0.1", port), timeout=2) as raw,
            context.wrap_socket(raw, server_hostname="127.0.0.1"),
        ):
            return True
    except ssl.SSLError:
        return False


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[admission_server.ServerThread, bytes, Path, Path]]:
    ca_pem, cert, key = _issue(tmp_path / "tls")
    store = _migrated_store(tmp_path / "audit.db")
    settings = Settings(policies={"paths": [str(ROOT / "policies")]})
    app = create_app(settings, store=store)
    listen = admission_server.Listen(
        host="127.0.0.1", port=0, cert_file=cert, key_file=key, reload_interval=0.2
    )
    thread = admission_server.ServerThread(
        admission_server.build_server(app, listen), admission_server.bind("127.0.0.1")
    )
    thread.start()
    yield thread, ca_pem, cert, key
    thread.stop()
    store.close()


def test_the_webhook_answers_over_tls_with_the_shipped_policies(
    tls_server: tuple[admission_server.ServerThread, bytes, Path, Path], tmp_path: Path
) -> None:
    thread, ca_pem, _, _ = tls_server
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca_pem)
    context = ssl.create_default_context(cafile=str(ca_file))
    with httpx.Client(verify=context, base_url=f"https://127.0.0.1:{thread.port}") as http:
        answer = http.post("/validate", json=REVIEW)
        ready = http.get("/readyz")
    assert answer.status_code == 200
    response = answer.json()["response"]
    assert response["allowed"] is True
    assert response["auditAnnotations"]["audit-seq"] == "1"
    assert ready.json() == {"status": "ready", "audit_seq": 1}


def test_the_serving_certificate_is_reloaded_when_its_files_change(
    tls_server: tuple[admission_server.ServerThread, bytes, Path, Path], tmp_path: Path
) -> None:
    thread, old_ca, cert, key = tls_server
    assert _handshake_trusts(thread.port, old_ca)
    new_ca, new_cert, new_key = _issue(tmp_path / "rotated")
    assert not _handshake_trusts(thread.port, new_ca)

    key.write_bytes(new_key.read_bytes())
    cert.write_bytes(new_cert.read_bytes())

    deadline = time.monotonic() + 10
    while not _handshake_trusts(thread.port, new_ca):
        assert time.monotonic() < deadline, "the rotated certificate was never served"
        time.sleep(0.1)
    assert not _handshake_trusts(thread.port, old_ca)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _config(tmp_path: Path, **extra: Any) -> Path:
    config = {
        "database": {"url": f"sqlite:///{tmp_path / 'audit.db'}"},
        "policies": {"paths": [str(ROOT / "policies")]},
        **extra,
    }
    path = tmp_path / "gatekeeper.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def _gatekeeper(*args: str) -> list[str]:
    return [sys.executable, "-c", "from gatekeeper.cli import run; run()", *args]


def _environment() -> dict[str, str]:
    """This process's environment without the settings it may carry (`GATEKEEPER_...`)."""
    return {k: v for k, v in os.environ.items() if not k.startswith("GATEKEEPER_")}


def _serve_refused(config: Path) -> subprocess.CompletedProcess[str]:
    """`gatekeeper serve` run to its end, which comes at once when it refuses to start."""
    return subprocess.run(
        _gatekeeper("--config", str(config), "serve", "--port", str(_free_port())),
        env=_environment(),
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )


@contextmanager
def _serving(config: Path, tls: Path, workers: int) -> Iterator[tuple[int, subprocess.Popen[str]]]:
    """`gatekeeper serve` on a free port, up and healthy; stopped with SIGTERM after."""
    env = _environment()
    subprocess.run(_gatekeeper("--config", str(config), "db", "upgrade"), check=True, env=env)
    _, cert, key = _issue(tls)
    port = _free_port()
    process = subprocess.Popen(
        _gatekeeper(
            "--config",
            str(config),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--tls-cert-file",
            str(cert),
            "--tls-key-file",
            str(key),
            "--workers",
            str(workers),
        ),
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if _once(port, "GET", "/healthz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stderr.read() if process.stderr else ""
            assert time.monotonic() < deadline, "gatekeeper serve did not come up"
            time.sleep(0.2)
        yield port, process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
        if process.stderr is not None and not process.stderr.closed:
            process.communicate(timeout=30)
        process.wait(timeout=30)


@pytest.mark.slow
@pytest.mark.parametrize("workers", [1, 2])
def test_gatekeeper_serve_answers_reviews_and_stops_on_sigterm(
    tmp_path: Path, workers: int
) -> None:
    with _serving(_config(tmp_path), tmp_path / "tls", workers) as (port, process):
        # A new connection per request, so that every worker answers some of them.
        answers = [_once(port, "POST", json=REVIEW).json()["response"] for _ in range(6)]
        bad = _once(port, "POST", content=b"{")
        scrapes = [_counted(_once(port, "GET", "/metrics").text) for _ in range(6)]
        process.send_signal(signal.SIGTERM)
        _, errors = process.communicate(timeout=30)
    assert all(answer["allowed"] is True for answer in answers)
    assert bad.status_code == 400
    # Stopping on SIGTERM is how it is meant to end (test_stopping.py).
    assert process.returncode == 0
    assert "Traceback" not in errors
    store = AuditStore(create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}"))
    records = store.query().records
    report = verify_store(store, None)
    store.close()
    assert len(records) == 6 and report.ok
    assert {record.payload["uid"] for record in records} == {REVIEW["request"]["uid"]}  # type: ignore[index]
    assert json.dumps(records[0].payload["reasons"]) == '["unmanaged object"]'
    # Whichever worker is asked, /metrics counts what all of them did.
    assert scrapes == [(6.0, 1.0)] * 6


@pytest.mark.slow
def test_serve_signs_checkpoints_while_it_runs_and_one_over_the_head_when_it_stops(
    tmp_path: Path,
) -> None:
    private, public = generate_keypair(tmp_path / "keys")
    config = _config(
        tmp_path,
        audit={"signingKeyFile": str(private), "checkpointInterval": "300ms"},
    )
    with _serving(config, tmp_path / "tls", workers=2) as (port, _):
        for _ in range(3):
            assert _once(port, "POST", json=REVIEW).status_code == 200
        store = AuditStore(create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}"))
        deadline = time.monotonic() + 15
        while not store.checkpoints():
            assert time.monotonic() < deadline, "no checkpoint was signed while serving"
            time.sleep(0.1)
        for _ in range(3):
            assert _once(port, "POST", json=REVIEW).status_code == 200
    report = verify_store(store, load_verifier(public))
    head, _ = store.head()
    last = store.checkpoints()[-1]
    store.close()
    assert report.ok, report.findings
    assert head == 6 and last.seq == head


_LABEL_POLICY = """\
# METADATA
# title: Nothing labelled {label}
# custom:
#   enforcement: deny
package tests.no_label

import rego.v1

deny contains msg if {{
\tinput.review.object.metadata.labels["{label}"] == "true"
\tmsg := "labelled {label}"
}}
"""


@pytest.mark.slow
def test_every_worker_follows_a_changed_policy_file_without_a_restart(tmp_path: Path) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    (policies / "label.rego").write_text(_LABEL_POLICY.format(label="forbidden"))
    config = _config(tmp_path, policies={"paths": [str(policies)], "reloadInterval": "200ms"})
    review = json.loads(json.dumps(REVIEW))
    review["request"]["object"]["metadata"]["labels"] = {"banned": "true"}
    with _serving(config, tmp_path / "tls", workers=2) as (port, process):
        assert _once(port, "POST", json=review).json()["response"]["allowed"] is True
        (policies / "label.rego").write_text(_LABEL_POLICY.format(label="banned"))
        # mtime granularity: make sure the change is seen even within the same tick.
        os.utime(policies / "label.rego", ns=(time.time_ns() + 10**9,) * 2)
        deadline = time.monotonic() + 20
        while True:
            answers = [_once(port, "POST", json=review).json()["response"] for _ in range(8)]
            if not any(answer["allowed"] for answer in answers):
                break
            assert time.monotonic() < deadline, "the webhook kept the old policy"
            time.sleep(0.2)
        assert "labelled banned" in answers[0]["status"]["message"]
        # Sixteen more answers on fresh connections, which the kernel spreads over both
        # workers: none of them may still apply the old policy.
        later = [_once(port, "POST", json=review).json()["response"] for _ in range(16)]
        assert not any(answer["allowed"] for answer in later)
        # Each worker that held the old set reloads it for itself, and says so. (A worker
        # still starting when the file changed loads the new set first and has nothing to
        # reload, so one record per worker cannot be required on a loaded machine.)
        store = AuditStore(create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}"))
        try:
            reloads = store.query(kinds=["policy.reloaded"]).records
        finally:
            store.close()
    processes = {record.payload["process"] for record in reloads}
    assert 1 <= len(processes) <= 2
    assert all(record.payload["process"] != process.pid for record in reloads)


def _once(port: int, method: str, path: str = "/validate", **options: Any) -> httpx.Response:
    """One request on a connection of its own."""
    with httpx.Client(verify=False, base_url=f"https://127.0.0.1:{port}") as http:
        return http.request(method, path, **options)


def _counted(metrics_text: str) -> tuple[float, float]:
    """(reviews answered, bad requests) in a /metrics page."""
    reviewed = bad = 0.0
    for line in metrics_text.splitlines():
        if line.startswith("gatekeeper_admission_requests_total{"):
            reviewed += float(line.rsplit(" ", 1)[1])
        elif line.startswith("gatekeeper_admission_bad_requests_total{"):
            bad += float(line.rsplit(" ", 1)[1])
    return reviewed, bad


def test_gatekeeper_serve_refuses_an_unmigrated_database(tmp_path: Path) -> None:
    result = _serve_refused(_config(tmp_path))
    assert result.returncode == 2
    assert "gatekeeper db upgrade" in result.stderr


def test_gatekeeper_serve_refuses_an_invalid_policy_with_its_place_and_nothing_else(
    tmp_path: Path,
) -> None:
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "broken.rego").write_text(
        "package team.broken\n\ndeny contains msg if {\n\tmsg := \n}\n"
    )
    config = _config(tmp_path, policies={"paths": [str(folder)]})
    upgrade = _gatekeeper("--config", str(config), "db", "upgrade")
    subprocess.run(upgrade, check=True, env=_environment())
    result = _serve_refused(config)
    assert result.returncode == 2
    assert "broken.rego:4:9: expecting" in result.stderr
    # The engine the failed load built goes with its thread, not with the error.
    assert "Traceback" not in result.stderr and "unsendable" not in result.stderr


SLOW_FOR_SECRETS = """package team.slow

import rego.v1

warn contains "never" if {
	input.review.object.kind == "Secret"
	some n in numbers.range(1, 100000000)
	n == -1
}
"""


def test_a_policy_slow_on_some_objects_stalls_only_their_reviews(tmp_path: Path) -> None:
    """A native engine holds Python's lock while it evaluates: in-process, every other
    review and the health check waited for it, past the deadline. Here both are answered
    while the slow review is still being evaluated (it is cut off at the 3 s deadline)."""
    folder = tmp_path / "policies"
    folder.mkdir()
    (folder / "slow.rego").write_text(SLOW_FOR_SECRETS)
    config = _config(
        tmp_path, policies={"paths": [str(folder)]}, admission={"decisionTimeout": "3s"}
    )
    secret = json.loads(json.dumps(REVIEW))
    secret["request"]["kind"]["kind"] = secret["request"]["object"]["kind"] = "Secret"
    secret["request"]["resource"]["resource"] = "secrets"
    with _serving(config, tmp_path / "tls", 1) as (port, _):
        answers: dict[str, tuple[float, float, Any]] = {}

        def timed(name: str, method: str, path: str, **options: Any) -> None:
            started = time.monotonic()
            response = _once(port, method, path, **options)
            answers[name] = (started, time.monotonic(), response)

        slow = threading.Thread(
            target=timed, args=("secret", "POST", "/validate"), kwargs={"json": secret}
        )
        slow.start()
        time.sleep(0.3)
        timed("health", "GET", "/healthz")
        timed("config map", "POST", "/validate", json=REVIEW)
        slow.join()
    started, finished, response = answers["secret"]
    assert finished - started < 8, finished - started
    refused = response.json()["response"]
    assert refused["allowed"] is False and "longer than 3 s" in refused["status"]["message"]
    # Answered before the slow review ended, which it did only at its deadline.
    assert answers["health"][1] < finished and answers["health"][2].status_code == 200
    assert answers["config map"][1] < finished
    assert answers["config map"][2].json()["response"]["allowed"] is True
