"""A deadline on reading a request's body: a client that stalls is answered 408 and cut off.

The API server sends a review at once and gives up on the webhook after its own timeout
(10 s by default), so a body that has not arrived within `server.requestTimeout` comes from
something else; waiting longer would only keep its connection and its reader for it.
"""

from __future__ import annotations

import asyncio
import json
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from gatekeeper.admission.metrics import AdmissionMetrics

log = logging.getLogger(__name__)


class _Stalled(Exception):
    """The body did not arrive in time."""


class RequestDeadline:
    """ASGI middleware: every `receive` of a request's body must end by the deadline."""

    def __init__(self, app: ASGIApp, *, seconds: float, metrics: AdmissionMetrics) -> None:
        self._app = app
        self._seconds = seconds
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        deadline = asyncio.get_running_loop().time() + self._seconds
        body_read = False
        started = False

        async def timed_receive() -> Message:
            nonlocal body_read
            if body_read:
                return await receive()
            try:
                async with asyncio.timeout_at(deadline):
                    message = await receive()
            except TimeoutError:
                raise _Stalled from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                body_read = True
            return message

        async def tracked_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self._app(scope, timed_receive, tracked_send)
        except _Stalled:
            client = scope.get("client")
            log.warning(
                "cut off %s %s from %s: its body did not arrive within %g s",
                scope["method"],
                scope["path"],
                f"{client[0]}:{client[1]}" if client else "an unknown client",
                self._seconds,
            )
            self._metrics.bad_requests.labels(reason="timeout").inc()
            if started:
                raise
            await _respond_408(send, self._seconds)


async def _respond_408(send: Send, seconds: float) -> None:
    message = f"the request body did not arrive within {seconds:g} s"
    content = json.dumps({"code": 408, "message": message}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(content)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": 408, "headers": headers})
    await send({"type": "http.response.body", "body": content})
