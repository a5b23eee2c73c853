"""A uvicorn server that stops as a Pod should when it gets SIGTERM (or Ctrl-C).

In order: readiness turns false (`on_stopping`), so that whoever probes it stops sending
traffic; it keeps serving for `drain_delay` seconds; it stops accepting connections; requests
in flight are answered, for up to the config's `timeout_graceful_shutdown` seconds, after which
those still running are cut (answered 500 if nothing was sent yet, then closed); then the app's
lifespan ends (the webhook commits what is queued and signs its last checkpoint). The process
then goes on to exit 0: unlike plain uvicorn, the signal is not raised again afterwards, since
stopping on request is how a server is meant to end.

A second signal cuts the drain delay short; it never skips the lifespan's end, where records
are committed. The dashboard serves through the same class.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Final

import uvicorn

STOP_SIGNALS: Final = (signal.SIGTERM, signal.SIGINT)

log = logging.getLogger(__name__)


class GracefulServer(uvicorn.Server):
    """`uvicorn.Server` with the stopping sequence of the module's caption."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        drain_delay: float = 0.0,
        on_stopping: Callable[[], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.drain_delay = drain_delay
        self._on_stopping = on_stopping
        self._stop_at: float | None = None
        self.stop_signals: list[int] = []

    @property
    def stopping(self) -> bool:
        """True once a stop was asked for, even while it still drains."""
        return self._stop_at is not None or self.should_exit

    def request_stop(self) -> None:
        """Begin the stopping sequence; asked again, stop accepting at once."""
        if self._stop_at is None:
            if self._on_stopping is not None:
                self._on_stopping()
            self._stop_at = time.monotonic() + self.drain_delay
            log.info(
                "stopping: not ready from now on, accepting for %.1f s more, then answering "
                "what is in flight for up to %s s",
                self.drain_delay,
                self.config.timeout_graceful_shutdown,
            )
        else:
            self._stop_at = time.monotonic()

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.stop_signals.append(sig)
        self.request_stop()

    async def on_tick(self, counter: int) -> bool:
        if self._stop_at is not None and time.monotonic() >= self._stop_at:
            self.should_exit = True
        return await super().on_tick(counter)

    def run(self, sockets: list[socket.socket] | None = None) -> None:
        # Around the whole event loop: a cut task may log only as the loop closes.
        cut = _CutRequests()
        uvicorn_log = logging.getLogger("uvicorn.error")
        uvicorn_log.addFilter(cut)
        try:
            super().run(sockets)
        finally:
            uvicorn_log.removeFilter(cut)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {signum: signal.signal(signum, self.handle_exit) for signum in STOP_SIGNALS}
        # A forked worker blocks both signals until its server is built; one that came in the
        # meantime is delivered here, to this handler.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


class _CutRequests(logging.Filter):
    """uvicorn logs a request it cancels at the shutdown timeout as an application error, with
    a traceback; it is one request cut on purpose, and said so in one line."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info is not None and _cancelled(record.exc_info[1]):
            record.msg = (
                "a request still running at the shutdown timeout was cut: answered 500 "
                "(or closed, had its answer begun)"
            )
            record.args = ()
            record.exc_info = None
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _cancelled(error: BaseException | None) -> bool:
    """A cancellation, or a group of nothing else (a streamed response's task group)."""
    if isinstance(error, BaseExceptionGroup):
        return all(_cancelled(inner) for inner in error.exceptions)
    return isinstance(error, asyncio.CancelledError)
