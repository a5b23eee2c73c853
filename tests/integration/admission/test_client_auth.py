"""Client authentication and request deadlines of the webhook served for real (uvicorn, TLS).

Only a client certificate from `server.clientCaFile` (and, with `server.clientNames`, one
for a listed name) may submit a review; anything else is refused before its body is read and
leaves the audit store as it was. Probes and metrics need no certificate. Stalled requests
are cut off after `server.requestTimeout`.
"""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from gatekeeper.admission import server as admission_server
from gatekeeper.admission.app import create_app
from gatekeeper.audit import migrate
from gatekeeper.audit.database import create_database_engine
from gatekeeper.audit.store import AuditStore
from gatekeeper.devcluster.pki import CertificateAuthority
from gatekeeper.errors import ConfigError
from gatekeeper.settings import Settings

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[3]
# What the adversarial review sent: a made-up user in the break-glass group.
FORGED = {
    "apiVersion": "admission.k8s.io/v1",
    "kind": "AdmissionReview",
    "request": {
        "uid": "0b0b0b0b-0000-4000-8000-000000000001",
        "kind": {"group": "", "version": "v1", "kind": "ConfigMap"},
        "resource": {"group": "", "version": "v1", "resource": "configmaps"},
        "namespace": "shop",
        "name": "notes",
        "operation": "CREATE",
        "userInfo": {"username": "bob", "groups": ["gatekeeper:break-glass"]},
        "object": {
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": "notes", "namespace": "shop"},
        },
    },
}


@dataclass
class Pki:
    """The webhook's serving CA and certificate, and client CAs with certificates."""

    folder: Path
    server_ca: CertificateAuthority
    cert_file: Path
    key_file: Path

    @classmethod
    def create(cls, folder: Path) -> Pki:
        folder.mkdir(parents=True, exist_ok=True)
        ca = CertificateAuthority.create("webhook serving CA")
        issued = ca.issue_server("127.0.0.1", ips=("127.0.0.1",), dns_names=())
        (folder / "tls.crt").write_bytes(issued.cert_pem)
        (folder / "tls.key").write_bytes(issued.key_pem)
        return cls(folder, ca, folder / "tls.crt", folder / "tls.key")

    def client_ca(self, name: str) -> tuple[CertificateAuthority, Path]:
        ca = CertificateAuthority.create(f"{name} client CA")
        path = self.folder / f"{name}-ca.crt"
        path.write_bytes(ca.cert_pem)
        return ca, path

    def client(
        self, ca: CertificateAuthority | None, common_name: str = "kube-apiserver"
    ) -> Client:
        context = ssl.create_default_context(cadata=self.server_ca.cert_pem.decode())
        if ca is not None:
            issued = ca.issue_client(common_name)
            stem = self.folder / f"client-{common_name}-{id(ca)}"
            stem.with_suffix(".crt").write_bytes(issued.cert_pem)
            stem.with_suffix(".key").write_bytes(issued.key_pem)
            context.load_cert_chain(stem.with_suffix(".crt"), stem.with_suffix(".key"))
        return Client(context)


@dataclass
class Client:
    context: ssl.SSLContext

    def request(self, port: int, method: str, path: str, **kwargs: Any) -> httpx.Response:
        with httpx.Client(verify=self.context, base_url=f"https://127.0.0.1:{port}") as http:
            return http.request(method, path, **kwargs)

    def raw(self, port: int, timeout: float = 10.0) -> ssl.SSLSocket:
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        return self.context.wrap_socket(raw, server_hostname="127.0.0.1")


@dataclass
class Running:
    port: int
    store: AuditStore

    def count(self) -> int:
        return len(self.store.query(limit=10_000).records)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki.create(tmp_path / "pki")


@pytest.fixture
def serve(tmp_path: Path, pki: Pki) -> Iterator[Callable[..., Running]]:
    """Start the real app over TLS with the given `server` settings."""
    started: list[tuple[admission_server.ServerThread, AuditStore]] = []

    def start(**server: Any) -> Running:
        engine = create_database_engine(f"sqlite:///{tmp_path / f'audit-{len(started)}.db'}")
        migrate.upgrade(engine)
        store = AuditStore(engine)
        settings = Settings(policies={"paths": [str(ROOT / "policies")]}, server=server)
        listen = admission_server.Listen(
            host="127.0.0.1",
            port=0,
            cert_file=pki.cert_file,
            key_file=pki.key_file,
            reload_interval=0.2,
        )
        thread = admission_server.ServerThread(
            admission_server.build_server(create_app(settings, store=store), listen),
            admission_server.bind("127.0.0.1"),
        )
        thread.start()
        started.append((thread, store))
        return Running(thread.port, store)

    yield start
    for thread, store in started:
        thread.stop()
        store.close()


def _refused_handshake(client: Client, port: int) -> bool:
    """True when the server refuses the client's certificate in the handshake. With TLS 1.3
    the client's side of the handshake is done before the server checks the certificate, so
    the refusal shows on the first read: an alert, or the connection closed unanswered. An
    accepted certificate gets /healthz, which is open to any client."""
    try:
        with client.raw(port) as tls:
            tls.sendall(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            answer = tls.recv(65536)
    except ssl.SSLError as exc:
        return "UNKNOWN_CA" in str(exc) or "CERTIFICATE" in str(exc).upper()
    if not answer:
        return True
    assert answer.startswith(b"HTTP/1.1 200 "), answer
    return False


def test_a_forged_review_without_a_client_certificate_is_refused_and_not_recorded(
    pki: Pki, serve: Callable[..., Running]
) -> None:
    trusted, ca_file = pki.client_ca("apiserver")
    webhook = serve(clientCaFile=str(ca_file))
    before = webhook.store.head()

    refused = pki.client(None).request(webhook.port, "POST", "/validate", json=FORGED)
    accepted = pki.client(trusted).request(webhook.port, "POST", "/validate", json=FORGED)

    assert refused.status_code == 401
    assert "clientCaFile" in refused.json()["message"]
    assert refused.headers["connection"] == "close"
    # The same review with the API server's certificate is decided and recorded, once.
    assert accepted.status_code == 200
    assert accepted.json()["response"]["auditAnnotations"]["audit-seq"] == str(before[0] + 1)
    assert webhook.count() == 1


def test_a_client_certificate_from_another_ca_fails_the_handshake(
    pki: Pki, serve: Callable[..., Running]
) -> None:
    _, ca_file = pki.client_ca("apiserver")
    other, _ = pki.client_ca("other")
    webhook = serve(clientCaFile=str(ca_file))

    assert _refused_handshake(pki.client(other), webhook.port)
    assert webhook.count() == 0


def test_a_certificate_of_the_right_ca_for_an_unlisted_name_is_refused(
    pki: Pki, serve: Callable[..., Running]
) -> None:
    trusted, ca_file = pki.client_ca("apiserver")
    webhook = serve(clientCaFile=str(ca_file), clientNames=["kube-apiserver"])

    refused = pki.client(trusted, "some-controller").request(
        webhook.port, "POST", "/validate", json=FORGED
    )
    accepted = pki.client(trusted, "kube-apiserver").request(
        webhook.port, "POST", "/validate", json=FORGED
    )

    assert refused.status_code == 403
    assert "CN=some-controller" in refused.json()["message"]
    assert accepted.status_code == 200
    assert webhook.count() == 1


def test_every_path_but_the_probes_and_metrics_needs_the_certificate(
    pki: Pki, serve: Callable[..., Running]
) -> None:
    _, ca_file = pki.client_ca("apiserver")
    webhook = serve(clientCaFile=str(ca_file))
    anonymous = pki.client(None)

    open_paths = {path: anonymous.request(webhook.port, "GET", path) for path in OPEN}
    guarded = anonymous.request(webhook.port, "GET", "/validate")
    unknown = anonymous.request(webhook.port, "POST", "/mutate", json=FORGED)

    assert {path: answer.status_code for path, answer in open_paths.items()} == dict.fromkeys(
        OPEN, 200
    )
    assert open_paths["/readyz"].json()["status"] == "ready"
    assert "gatekeeper_admission_bad_requests" in open_paths["/metrics"].text
    assert guarded.status_code == 401 and unknown.status_code == 401
    assert webhook.count() == 0


OPEN = ("/healthz", "/readyz", "/metrics")


def test_a_replaced_client_ca_is_trusted_instead_of_the_old_one(
    pki: Pki, serve: Callable[..., Running]
) -> None:
    old, ca_file = pki.client_ca("apiserver")
    new, new_file = pki.client_ca("rotated")
    webhook = serve(clientCaFile=str(ca_file))
    assert pki.client(old).request(webhook.port, "POST", "/validate", json=FORGED).is_success
    assert _refused_handshake(pki.client(new), webhook.port)

    shutil.copyfile(new_file, ca_file)

    deadline = time.monotonic() + 10
    while _refused_handshake(pki.client(new), webhook.port):
        assert time.monotonic() < deadline, "the new client CA was never trusted"
        time.sleep(0.1)
    # Loading into the old context would have added the new CA beside the old one.
    assert _refused_handshake(pki.client(old), webhook.port)
    assert pki.client(new).request(webhook.port, "POST", "/validate", json=FORGED).is_success
    assert webhook.count() == 2


def test_a_client_ca_file_without_a_certificate_stops_the_start(pki: Pki, tmp_path: Path) -> None:
    empty = tmp_path / "empty.crt"
    empty.write_text("not a certificate\n")
    settings = Settings(
        policies={"paths": [str(ROOT / "policies")]}, server={"clientCaFile": str(empty)}
    )
    engine = create_database_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    migrate.upgrade(engine)
    store = AuditStore(engine)
    listen = admission_server.Listen(
        host="127.0.0.1", port=0, cert_file=pki.cert_file, key_file=pki.key_file
    )
    try:
        with pytest.raises(ConfigError, match="clientCaFile"):
            admission_server.build_server(create_app(settings, store=store), listen)
        without_tls = admission_server.Listen(host="127.0.0.1", port=0)
        with pytest.raises(ConfigError, match="only be checked over TLS"):
            admission_server.build_server(create_app(settings, store=store), without_tls)
    finally:
        store.close()


def _read_all(sock: ssl.SSLSocket) -> bytes:
    chunks = []
    while chunk := sock.recv(65536):
        chunks.append(chunk)
    return b"".join(chunks)


def test_a_stalled_body_is_answered_408_and_cut_off_while_others_are_answered(
    pki: Pki, serve: Callable[..., Running]
) -> None:
    trusted, ca_file = pki.client_ca("apiserver")
    webhook = serve(clientCaFile=str(ca_file), requestTimeout="1s")
    client = pki.client(trusted)
    started = time.monotonic()
    with client.raw(webhook.port) as stalled:
        stalled.sendall(
            b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            b'Content-Type: application/json\r\nContent-Length: 4000\r\n\r\n{"apiVersion"'
        )
        # While it stalls, the API server's reviews are answered.
        answered = client.request(webhook.port, "POST", "/validate", json=FORGED)
        answer = _read_all(stalled)
    elapsed = time.monotonic() - started
    assert answered.status_code == 200
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"did not arrive within 1 s" in answer
    assert 0.9 < elapsed < 5
    assert webhook.count() == 1


def test_stalled_headers_and_silent_connections_are_closed(
    pki: Pki, serve: Callable[..., Running]
) -> None:
    trusted, ca_file = pki.client_ca("apiserver")
    webhook = serve(clientCaFile=str(ca_file), requestTimeout="1s")
    client = pki.client(trusted)
    started = time.monotonic()
    with client.raw(webhook.port) as silent, client.raw(webhook.port) as partial:
        partial.sendall(b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Le")
        assert _read_all(partial) == b""
        assert _read_all(silent) == b""
    assert time.monotonic() - started < 5


def test_a_stalled_body_is_cut_off_without_client_authentication_too(
    pki: Pki, serve: Callable[..., Running]
) -> None:
    webhook = serve(requestTimeout="1s")
    with pki.client(None).raw(webhook.port) as stalled:
        stalled.sendall(
            b"POST /validate HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n{"
        )
        assert _read_all(stalled).startswith(b"HTTP/1.1 408 ")


def _gatekeeper(*args: str) -> list[str]:
    return [sys.executable, "-c", "from gatekeeper.cli import run; run()", *args]


@pytest.mark.slow
def test_serve_with_workers_requires_the_certificate_and_warns_without_a_ca(
    pki: Pki, tmp_path: Path
) -> None:
    trusted, ca_file = pki.client_ca("apiserver")
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEKEEPER_")}
    server = {"tlsCertFile": str(pki.cert_file), "tlsKeyFile": str(pki.key_file)}
    outputs = {}
    for name, extra in (("open", {}), ("guarded", {"clientCaFile": str(ca_file)})):
        config = tmp_path / f"{name}.yaml"
        config.write_text(
            yaml.safe_dump(
                {
                    "database": {"url": f"sqlite:///{tmp_path / f'{name}.db'}"},
                    "policies": {"paths": [str(ROOT / "policies")]},
                    "server": {**server, **extra, "port": _free_port()},
                }
            )
        )
        subprocess.run(_gatekeeper("--config", str(config), "db", "upgrade"), check=True, env=env)
        port = yaml.safe_load(config.read_text())["server"]["port"]
        process = subprocess.Popen(
            _gatekeeper("--config", str(config), "serve", "--workers", "2"),
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            _wait_healthy(pki.client(None), port, process)
            if name == "guarded":
                statuses = {
                    pki.client(None).request(port, "POST", "/validate", json=FORGED).status_code
                    for _ in range(4)
                } | {
                    pki.client(trusted).request(port, "POST", "/validate", json=FORGED).status_code
                    for _ in range(4)
                }
                assert statuses == {401, 200}
        finally:
            process.terminate()
            outputs[name] = process.communicate(timeout=30)[1]
    assert "server.clientCaFile is not set: any client that reaches 127.0.0.1" in outputs["open"]
    assert "clientCaFile is not set" not in outputs["guarded"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_healthy(client: Client, port: int, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            if client.request(port, "GET", "/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert process.poll() is None, process.stderr.read() if process.stderr else ""
        assert time.monotonic() < deadline, "gatekeeper serve did not come up"
        time.sleep(0.2)
