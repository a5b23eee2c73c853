"""`gatekeeper serve` stopped by SIGTERM: idle, with a review in flight, under load, draining.

Each test runs the real command as a process of its own on a real SQLite log and sends it
real signals; afterwards no process is left, the command exited 0, every review that was
answered has its record (the sequence number the answer named, for the same uid), and
`gatekeeper audit verify` passes.
"""

from __future__ import annotations

import json
import signal
import socket
import ssl
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.signing import generate_keypair
from gatekeeper.audit.store import AuditStore
from gatekeeper.devcluster.pki import CertificateAuthority
from tests.fixtures.commands import ROOT, Command, wait_until_gone

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def _review(uid: str) -> dict[str, Any]:
    return {
        "apiVersion": "admission.k8s.io/v1",
        "kind": "AdmissionReview",
        "request": {
            "uid": uid,
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Webhook:
    """`gatekeeper serve` on a free port over TLS, with its own SQLite log."""

    def __init__(self, folder: Path, *, workers: int = 1, **server: Any) -> None:
        self.folder = folder
        ca = CertificateAuthority.create("stopping test CA")
        issued = ca.issue_server("127.0.0.1", ips=("127.0.0.1",), dns_names=())
        (folder / "tls.crt").write_bytes(issued.cert_pem)
        (folder / "tls.key").write_bytes(issued.key_pem)
        private, public = generate_keypair(folder / "keys")
        self.port = _free_port()
        self.config = folder / "gatekeeper.yaml"
        self.config.write_text(
            yaml.safe_dump(
                {
                    "database": {"url": f"sqlite:///{folder / 'audit.db'}"},
                    "audit": {"signingKeyFile": str(private), "publicKeyFile": str(public)},
                    "policies": {"paths": [str(ROOT / "policies")]},
                    "server": {
                        "host": "127.0.0.1",
                        "port": self.port,
                        "tlsCertFile": str(folder / "tls.crt"),
                        "tlsKeyFile": str(folder / "tls.key"),
                        **server,
                    },
                }
            )
        )
        migrate = Command(["--config", str(self.config), "db", "upgrade"])
        assert migrate.wait(60) == 0, migrate.rest()
        serve = ["serve", "--workers", str(workers), "--log-level", "info"]
        self.command = Command(["--config", str(self.config), *serve])

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while True:
            try:
                if self.get("/readyz").status_code == 200:
                    return
            except httpx.TransportError:
                pass
            assert self.command.process.poll() is None, self.command.rest()
            assert time.monotonic() < deadline, f"serve did not come up:\n{self.command.text()}"
            time.sleep(0.1)

    def get(self, path: str) -> httpx.Response:
        with httpx.Client(verify=False, base_url=f"https://127.0.0.1:{self.port}") as http:
            return http.get(path, timeout=5)

    def post(self, uid: str) -> httpx.Response:
        with httpx.Client(verify=False, base_url=f"https://127.0.0.1:{self.port}") as http:
            return http.post("/validate", json=_review(uid), timeout=10)

    def accepting(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def records(self) -> dict[str, int]:
        """uid -> sequence number of every admission record in the log."""
        store = AuditStore(create_database_engine(f"sqlite:///{self.folder / 'audit.db'}"))
        try:
            records = store.query(limit=10_000).records
        finally:
            store.close()
        return {
            str(record.payload["uid"]): record.seq
            for record in records
            if record.kind.startswith("admission.")
        }

    def verify(self) -> None:
        """`audit verify` passes, and the last checkpoint, signed as the server stopped,
        covers every record."""
        verify = Command(["--config", str(self.config), "audit", "verify", "--format", "json"])
        assert verify.wait(60) == 0, verify.rest()
        store = AuditStore(create_database_engine(f"sqlite:///{self.folder / 'audit.db'}"))
        try:
            head, _ = store.head()
            assert head == 0 or store.checkpoints()[-1].seq == head
        finally:
            store.close()

    def stopped_cleanly(self, *, seconds: float) -> str:
        """Wait for the exit; it must be 0 with no process left. What the server printed."""
        code = self.command.wait(seconds)
        output = self.command.rest()
        assert code == 0, output
        assert "Traceback" not in output, output
        assert wait_until_gone(str(self.config), seconds=5) == []
        return output


@contextmanager
def _serving(folder: Path, **options: Any) -> Iterator[Webhook]:
    webhook = Webhook(folder, **options)
    try:
        webhook.wait_ready()
        yield webhook
    finally:
        webhook.command.kill()


class PendingReview:
    """A review whose headers and half its body are sent; the rest waits for `finish`."""

    def __init__(self, port: int, uid: str) -> None:
        body = json.dumps(_review(uid)).encode()
        self._rest = body[len(body) // 2 :]
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        self._sock = context.wrap_socket(raw, server_hostname="127.0.0.1")
        head = (
            "POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        ).encode()
        self._sock.sendall(head + body[: len(body) // 2])

    def finish(self) -> tuple[int, dict[str, Any]]:
        """Send the rest; the status and JSON body of the answer."""
        self._sock.sendall(self._rest)
        return self.answer()

    def answer(self) -> tuple[int, dict[str, Any]]:
        data = b""
        while True:
            chunk = self._sock.recv(65536)
            if not chunk:
                break
            data += chunk
            head, _, body = data.partition(b"\r\n\r\n")
            length = next(
                (
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                ),
                None,
            )
            if length is not None and len(body) >= length:
                break
        self._sock.close()
        if not data:
            return 0, {}
        head, _, body = data.partition(b"\r\n\r\n")
        status = int(head.split(b" ", 2)[1])
        return status, json.loads(body) if status == 200 else {"text": body.decode()}


@pytest.mark.parametrize("workers", [1, 2])
def test_an_idle_webhook_stops_at_once_and_exits_0(tmp_path: Path, workers: int) -> None:
    with _serving(tmp_path, workers=workers) as webhook:
        assert webhook.post("idle-1").json()["response"]["allowed"] is True
        sent = webhook.command.signal(signal.SIGTERM)
        webhook.stopped_cleanly(seconds=30)
        assert time.monotonic() - sent < 10
    assert not webhook.accepting()
    assert set(webhook.records()) == {"idle-1"}
    webhook.verify()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_review_in_flight_is_answered_and_recorded_while_new_connections_are_refused(
    tmp_path: Path, workers: int
) -> None:
    with _serving(tmp_path, workers=workers, requestTimeout="30s") as webhook:
        pending = PendingReview(webhook.port, "in-flight")
        time.sleep(0.3)  # the server has read the headers: the review is under way
        webhook.command.signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        while webhook.accepting():
            assert time.monotonic() < deadline, "it still accepts connections after SIGTERM"
            time.sleep(0.05)
        assert webhook.command.process.poll() is None, "it exited with a review in flight"
        status, answer = pending.finish()
        webhook.stopped_cleanly(seconds=30)
    assert status == 200
    response = answer["response"]
    assert response["uid"] == "in-flight" and response["allowed"] is True
    assert webhook.records() == {"in-flight": int(response["auditAnnotations"]["audit-seq"])}
    webhook.verify()


def test_under_load_every_answered_review_has_its_record(tmp_path: Path) -> None:
    answered: dict[str, int] = {}
    failures: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()

    def client(n: int) -> None:
        with httpx.Client(verify=False, base_url=f"https://127.0.0.1:{webhook.port}") as http:
            for i in range(2000):  # bounded: the server stops long before
                if stop.is_set():
                    return
                uid = f"load-{n}-{i}-{uuid.uuid4().hex[:8]}"
                try:
                    reply = http.post("/validate", json=_review(uid), timeout=10)
                except httpx.TransportError:
                    return  # refused or closed: the server has stopped taking reviews
                with lock:
                    if reply.status_code != 200:
                        failures.append(f"{uid}: {reply.status_code} {reply.text}")
                        return
                    response = reply.json()["response"]
                    answered[uid] = int(response["auditAnnotations"]["audit-seq"])

    with _serving(tmp_path, workers=2) as webhook:
        threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
        for thread in threads:
            thread.start()
        time.sleep(1.5)
        before = len(answered)
        webhook.command.signal(signal.SIGTERM)
        webhook.stopped_cleanly(seconds=30)
        stop.set()
        for thread in threads:
            thread.join(30)
    assert before > 10 and not failures, failures
    records = webhook.records()
    # No answer without its record; and every record is of a review someone sent.
    assert {uid: records.get(uid) for uid in answered} == answered
    assert set(records) >= set(answered)
    webhook.verify()


def test_readiness_turns_false_first_while_reviews_are_still_answered(tmp_path: Path) -> None:
    with _serving(tmp_path, shutdownDelay="3s") as webhook:
        sent = webhook.command.signal(signal.SIGTERM)
        deadline = time.monotonic() + 5
        while (ready := webhook.get("/readyz")).status_code == 200:
            assert time.monotonic() < deadline, "/readyz never turned false"
            time.sleep(0.05)
        assert ready.status_code == 503 and ready.json()["status"] == "stopping"
        during = webhook.post("draining")
        assert time.monotonic() - sent < 2.5, "the check took too long to mean anything"
        assert webhook.get("/healthz").status_code == 200
        webhook.stopped_cleanly(seconds=30)
        assert time.monotonic() - sent >= 3
    assert during.status_code == 200
    seq = int(during.json()["response"]["auditAnnotations"]["audit-seq"])
    assert webhook.records() == {"draining": seq}
    webhook.verify()


def test_a_review_still_running_after_the_shutdown_timeout_is_refused_and_not_recorded(
    tmp_path: Path,
) -> None:
    with _serving(tmp_path, requestTimeout="60s", shutdownTimeout="1s") as webhook:
        pending = PendingReview(webhook.port, "stalled")
        time.sleep(0.3)
        sent = webhook.command.signal(signal.SIGTERM)
        webhook.stopped_cleanly(seconds=30)
        took = time.monotonic() - sent
        status, _ = pending.answer()
    assert took < 8, f"it took {took:.1f} s to give up on the stalled review"
    # Never allowed: an error, which the API server treats as its failurePolicy says.
    assert status == 500
    assert "stalled" not in webhook.records()
    webhook.verify()
