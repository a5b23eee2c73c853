"""The push receivers' HTTP server, run by the reconciler process on its own port.

`POST /hooks/<name>` takes one event of the receiver `name`: a body over the size limit gets
413, a missing or wrong signature 401 (recorded as `receiver.rejected`, without the body, at
most once per receiver every ten seconds with a count of those left out), a push the
receiver cannot read 400; a push that concerns some sources gets 202 and, after the
coalescing delay, one pass of those sources, however many pushes came meanwhile. A replica
that does not hold the Lease answers 503: the leader passes them at its interval.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import uvicorn
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from gatekeeper.audit.events import RECEIVER_REJECTED, NewEvent
from gatekeeper.errors import ConfigError, GatekeeperError
from gatekeeper.reconcile import receivers
from gatekeeper.settings import ReceiverHook, ReceiverSettings, SourceSettings

log = logging.getLogger(__name__)

REJECTION_WINDOW = 10.0


class Coalescer:
    """Gathers the sources of a burst of pushes and fires once with all of them: when no push
    came for `delay`, or `delay` times ten after the burst's first push, whichever is first
    (a steady stream of pushes still gets its passes)."""

    def __init__(self, fire: Callable[[set[str]], None], delay: float) -> None:
        self._fire = fire
        self._delay = delay
        self._pending: set[str] = set()
        self._first = 0.0
        self._last = 0.0
        self._worker: threading.Thread | None = None
        self._cancelled = threading.Event()
        self._lock = threading.Lock()

    def add(self, names: Sequence[str]) -> None:
        with self._lock:
            now = time.monotonic()
            self._pending.update(names)
            self._last = now
            if self._worker is None:
                self._first = now
                self._worker = threading.Thread(target=self._wait, name="coalesce", daemon=True)
                self._worker.start()

    def _wait(self) -> None:
        while True:
            with self._lock:
                now = time.monotonic()
                due = min(self._last + self._delay, self._first + 10 * self._delay)
                if now >= due:
                    names, self._pending, self._worker = self._pending, set(), None
                    break
            if self._cancelled.wait(due - now):
                return
        if names:
            self._fire(names)

    def cancel(self) -> None:
        self._cancelled.set()


@dataclass
class _Rejections:
    """Records refused events, at most one per receiver per window; counts the others."""

    record: Callable[[NewEvent], object]
    actor: str
    window: float = REJECTION_WINDOW
    _last: dict[str, float] = field(default_factory=dict)
    _suppressed: dict[str, int] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def refused(self, hook: ReceiverHook, reason: str, client: str) -> None:
        name = hook.path_name
        now = time.monotonic()
        with self._lock:
            last = self._last.get(name)
            if last is not None and now - last < self.window:
                self._suppressed[name] = self._suppressed.get(name, 0) + 1
                return
            self._last[name] = now
            suppressed = self._suppressed.pop(name, 0)
        event = NewEvent(
            kind=RECEIVER_REJECTED,
            actor=self.actor,
            subject=f"receiver/{name}",
            payload={
                "receiver": name,
                "provider": hook.provider,
                "reason": reason,
                "client": client,
                "suppressed": suppressed,
            },
        )
        try:
            self.record(event)
        except GatekeeperError as exc:
            log.error("receiver %s: cannot record a refused event (%s): %s", name, reason, exc)


def hook_secret(hook: ReceiverHook) -> bytes:
    """The hook's shared secret, read now (a rotated Secret counts at the next event)."""
    if hook.secret is not None:
        value = hook.secret.get_secret_value()
    elif hook.secret_file is not None:
        try:
            value = hook.secret_file.read_text(encoding="utf-8")
        except OSError as exc:
            raise ConfigError(f"receiver {hook.path_name}: cannot read secretFile: {exc}") from exc
    else:
        assert hook.secret_env is not None
        value = os.environ.get(hook.secret_env, "")
    value = value.strip()
    if not value:
        raise ConfigError(f"receiver {hook.path_name}: the secret is empty")
    return value.encode()


def build_app(
    settings: ReceiverSettings,
    *,
    sources: Sequence[SourceSettings],
    trigger: Callable[[set[str]], None],
    record: Callable[[NewEvent], object],
    leading: Callable[[], bool] = lambda: True,
    actor: str = "gatekeeper-reconciler",
) -> Starlette:
    """The receivers' ASGI app; `trigger` gets the coalesced source names of pushes."""
    hooks = {hook.path_name: hook for hook in settings.hooks}
    coalescer = Coalescer(trigger, settings.coalesce)
    rejections = _Rejections(record, actor)
    limit = settings.max_body_bytes

    async def receive(request: Request) -> JSONResponse:
        hook = hooks.get(request.path_params["name"])
        if hook is None:
            return JSONResponse({"error": "no such receiver"}, status_code=404)
        declared = request.headers.get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return JSONResponse({"error": f"the body is over {limit} bytes"}, status_code=413)
        body = bytearray()
        async for chunk in request.stream():
            body += chunk
            if len(body) > limit:
                return JSONResponse({"error": f"the body is over {limit} bytes"}, status_code=413)
        client = request.client.host if request.client is not None else ""
        try:
            secret = hook_secret(hook)
        except ConfigError as exc:
            log.error("%s", exc)
            return JSONResponse({"error": "the receiver has no secret"}, status_code=500)
        try:
            receivers.verify(hook.provider, request.headers, bytes(body), secret)
        except receivers.Refused as exc:
            await run_in_threadpool(rejections.refused, hook, str(exc), client)
            log.warning("receiver %s: refused an event from %s: %s", hook.path_name, client, exc)
            return JSONResponse({"error": "signature"}, status_code=401)
        if not leading():
            return JSONResponse({"error": "not the leader"}, status_code=503)
        kind, event = receivers.event_kind(hook.provider, request.headers)
        if kind == "ping":
            return JSONResponse({"pong": True})
        if kind != "push":
            return JSONResponse({"ignored": event}, status_code=202)
        try:
            push = receivers.parse_push(hook.provider, json.loads(body))
        except (ValueError, receivers.BadEvent) as exc:
            return JSONResponse({"error": f"not a push event: {exc}"}, status_code=400)
        names = receivers.concerned(push, sources, hook.sources)
        log.info("receiver %s: push of %s concerns %s", hook.path_name, push.refs, names or "none")
        if names:
            coalescer.add(names)
        return JSONResponse({"sources": names}, status_code=202)

    app = Starlette(routes=[Route("/hooks/{name}", receive, methods=["POST"])])
    app.state.coalescer = coalescer
    return app


class ReceiverServer:
    """uvicorn serving the receivers' app in a thread of the reconciler process."""

    def __init__(self, app: Starlette, settings: ReceiverSettings) -> None:
        self._app = app
        self._settings = settings
        self._thread: threading.Thread | None = None
        config = uvicorn.Config(
            app,
            ssl_certfile=_text(settings.tls_cert_file),
            ssl_keyfile=_text(settings.tls_key_file),
            log_config=None,
            access_log=False,
            lifespan="off",
            log_level="warning",
        )
        try:
            config.load()
        except (OSError, ValueError) as exc:
            raise ConfigError(f"receivers: cannot load the TLS certificate or key: {exc}") from exc
        self._server = uvicorn.Server(config)
        self.port = settings.port

    def start(self) -> None:
        host, port = self._settings.host, self._settings.port
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            sock = socket.create_server((host, port), family=family, backlog=128)
        except OSError as exc:
            raise ConfigError(f"receivers: cannot listen on {host}:{port}: {exc}") from exc
        self.port = sock.getsockname()[1]
        self._thread = threading.Thread(
            target=self._server.run, kwargs={"sockets": [sock]}, name="receivers", daemon=True
        )
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.02)
        if not self._server.started:
            raise ConfigError(f"receivers: the server on {host}:{port} did not start")
        log.info("push receivers listening on %s:%s", host, self.port)

    def stop(self) -> None:
        self._server.should_exit = True
        coalescer = getattr(self._app.state, "coalescer", None)
        if isinstance(coalescer, Coalescer):
            coalescer.cancel()
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def _text(path: Path | None) -> str | None:
    return None if path is None else str(path)
