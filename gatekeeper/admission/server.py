"""Serving the app with uvicorn, over TLS when certificate files are given."""

from __future__ import annotations

import contextlib
import logging
import math
import os
import signal
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from gatekeeper.admission import tls, transport
from gatekeeper.admission.api.deps import AppParts
from gatekeeper.admission.errors import AdmissionError
from gatekeeper.admission.graceful import STOP_SIGNALS, GracefulServer
from gatekeeper.errors import ConfigError


@dataclass(frozen=True, kw_only=True)
class Listen:
    host: str
    port: int
    cert_file: Path | None = None
    key_file: Path | None = None
    reload_interval: float = 10.0


def build_server(app: FastAPI, listen: Listen, *, log_level: str = "warning") -> GracefulServer:
    """A uvicorn server for `app`; with TLS files, a reloader follows their changes.

    The client CA, the request deadline and how it stops (`shutdownDelay`, `shutdownTimeout`)
    come from the app's own settings (`server`), so that the handshake asks for the
    certificates the app's client check expects. On SIGTERM `/readyz` turns false first.
    """
    if (listen.cert_file is None) != (listen.key_file is None):
        raise ConfigError("give both a TLS certificate file and a key file, or neither")
    parts: AppParts = app.state.parts
    server_settings = parts.settings.server
    client_ca_file = server_settings.client_ca_file
    if client_ca_file is not None and listen.cert_file is None:
        raise ConfigError(
            "server.clientCaFile is set but the webhook has no TLS certificate: client "
            "certificates can only be checked over TLS (set tlsCertFile and tlsKeyFile)"
        )
    config = uvicorn.Config(
        app,
        host=listen.host,
        port=listen.port,
        ssl_certfile=listen.cert_file,
        ssl_keyfile=listen.key_file,
        http=transport.protocol_class(server_settings.request_timeout),
        ws="none",
        log_level=log_level,
        # Logging is the caller's to configure (the CLI does); uvicorn must not replace it.
        log_config=None,
        access_log=False,
        lifespan="on",
        # The API server keeps connections open; a short keep-alive only costs handshakes.
        timeout_keep_alive=30,
        timeout_graceful_shutdown=math.ceil(server_settings.shutdown_timeout),
    )
    try:
        config.load()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the TLS certificate or key: {exc}") from exc
    if config.ssl is not None and listen.cert_file and listen.key_file:
        if client_ca_file is not None:
            try:
                tls.load_client_ca(config.ssl, client_ca_file)
            except (OSError, ssl.SSLError) as exc:
                raise ConfigError(
                    f"cannot load server.clientCaFile {client_ca_file}: {exc}"
                ) from exc
        app.state.tls_reloader = tls.CertificateReloader(
            config.ssl,
            listen.cert_file,
            listen.key_file,
            client_ca_file=client_ca_file,
            interval=listen.reload_interval,
            on_result=lambda result: parts.metrics.tls_reloads.labels(result=result).inc(),
        )
    return GracefulServer(
        config, drain_delay=server_settings.shutdown_delay, on_stopping=parts.stopping.set
    )


class ServerThread:
    """A server running in a background thread on an already bound socket (tests, demo)."""

    def __init__(self, server: uvicorn.Server, sock: socket.socket) -> None:
        self.server = server
        self._socket = sock
        self._thread = threading.Thread(
            target=server.run, kwargs={"sockets": [sock]}, name="webhook-server", daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._socket.getsockname()[1])

    def start(self, timeout: float = 20.0) -> None:
        self._thread.start()
        self._thread.join(0)
        event = threading.Event()
        while not self.server.started and self._thread.is_alive():
            event.wait(0.02)
            timeout -= 0.02
            if timeout <= 0:
                break
        if not self.server.started:
            raise AdmissionError("the webhook server did not start")

    def stop(self, timeout: float = 20.0) -> None:
        self.server.should_exit = True
        self._thread.join(timeout)
        self._socket.close()


def bind(host: str, port: int = 0) -> socket.socket:
    """A listening TCP socket; port 0 picks a free one."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(512)
    sock.set_inheritable(True)
    return sock


def serve_workers(
    make_server: Callable[[], uvicorn.Server], sock: socket.socket, workers: int
) -> int:
    """Run `workers` forked processes that all accept on `sock`; return the exit code.

    Each child builds its own app (policy engines, database pool, audit appender) after the
    fork, so no thread or connection is shared. SIGTERM or SIGINT to the parent is passed on
    (also to a child still starting, which holds it until its server can stop cleanly); if
    one child dies, the others are stopped and the parent fails.
    """
    children: list[int] = []
    stopping: list[int] = []

    def forward(signum: int, _frame: object) -> None:
        stopping.append(signum)
        # The kernel goes on completing connections for as long as any process holds the
        # listening socket, this one included: they would wait in its backlog, never to be
        # answered. Each worker closes its own copy as it begins to stop.
        sock.close()
        for child in children:
            with contextlib.suppress(ProcessLookupError):
                os.kill(child, signum)

    previous = {signum: signal.signal(signum, forward) for signum in STOP_SIGNALS}
    try:
        for _ in range(workers):
            # Blocked across the fork: the child keeps them blocked until its server takes them
            # over (`GracefulServer.capture_signals`), the parent unblocks them at once.
            signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
            pid = os.fork()
            if pid == 0:  # the child
                _run_worker(make_server, sock)
            signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
            children.append(pid)
            if stopping:  # asked to stop while forking: the new child is told too
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, stopping[0])
        return _wait_for_workers(children, stopping)
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


def _run_worker(make_server: Callable[[], uvicorn.Server], sock: socket.socket) -> None:
    for signum in STOP_SIGNALS:
        # Not the parent's forwarding handler: until the server takes them over, they wait.
        signal.signal(signum, signal.SIG_DFL)
    code = 0
    try:
        make_server().run(sockets=[sock])
    except BaseException:  # the child must never return into the parent's code
        logging.getLogger(__name__).exception("webhook worker failed")
        code = 1
    finally:
        os._exit(code)


def _wait_for_workers(children: list[int], stopping: list[int]) -> int:
    failed = False
    remaining = set(children)
    while remaining:
        pid, status = os.wait()
        remaining.discard(pid)
        code = os.waitstatus_to_exitcode(status)
        # A worker that was asked to stop exits 0 (`GracefulServer`); one the signal ended
        # before its server could take it over was asked all the same.
        asked = code in (-signal.SIGTERM, -signal.SIGINT) and bool(stopping)
        if code != 0 and not asked and not failed:
            failed = True
            for child in remaining:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(child, signal.SIGTERM)
    return 1 if failed else 0
