"""Serving certificate reload: new handshakes use the files' current certificate and key.

cert-manager and similar tools replace the files in place; loading them again into the
server's own SSL context takes effect for every later handshake without a restart. A pair
that does not load (for example one file written, the other not yet) is retried at the next
check while the previous certificate stays in use.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

_Signature = tuple[tuple[int, int, int], ...]


class CertificateReloader:
    """Watches a certificate and key file and loads them into `context` when they change."""

    def __init__(
        self,
        context: ssl.SSLContext,
        cert_file: Path,
        key_file: Path,
        *,
        interval: float = 10.0,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        self._context = context
        self._files = (cert_file, key_file)
        self._interval = interval
        self._on_result = on_result
        self._loaded = self._signature()

    def _signature(self) -> _Signature:
        signature = []
        for file in self._files:
            try:
                status = file.stat()
            except OSError:
                signature.append((-1, -1, -1))
            else:
                signature.append((status.st_mtime_ns, status.st_size, status.st_ino))
        return tuple(signature)

    def check(self) -> bool:
        """Reload if the files changed since the last successful load; True if reloaded."""
        current = self._signature()
        if current == self._loaded:
            return False
        cert_file, key_file = self._files
        try:
            self._context.load_cert_chain(cert_file, key_file)
        except (OSError, ssl.SSLError) as exc:
            log.warning("serving certificate not reloaded, keeping the previous one: %s", exc)
            self._report("failed")
            return False
        self._loaded = current
        log.info("serving certificate reloaded from %s", cert_file)
        self._report("reloaded")
        return True

    async def run(self) -> None:
        """Check at every interval until cancelled; runs on the server's event loop, so the
        context never changes during a handshake."""
        while True:
            await asyncio.sleep(self._interval)
            self.check()

    def _report(self, result: str) -> None:
        if self._on_result is not None:
            self._on_result(result)
