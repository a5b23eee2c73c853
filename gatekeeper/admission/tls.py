"""Serving certificate and client CA reload: new handshakes use the files' current contents.

cert-manager and similar tools replace the files in place. When any of them changes, a new
SSL context is built from all of them and handed to every later handshake (the listening
context's SNI callback, which OpenSSL calls for every ClientHello, with or without a server
name, switches the connection to it), so no restart is needed. A fresh context rather than
loading into the old one, because a CA once loaded into a context cannot be taken out: a
client CA replaced after a compromise must stop being trusted. A set of files that does not
load (one file written, the other not yet) is retried at the next check while the previous
context stays in use.
"""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

_Signature = tuple[tuple[int, int, int], ...]


def server_context(cert_file: Path, key_file: Path, client_ca_file: Path | None) -> ssl.SSLContext:
    """A TLS server context; with a client CA, a client certificate is asked for and, when
    shown, must verify against it (one that does not fails the handshake)."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    if client_ca_file is not None:
        load_client_ca(context, client_ca_file)
    return context


def load_client_ca(context: ssl.SSLContext, client_ca_file: Path) -> None:
    """Trust the CA certificates of `client_ca_file` for client certificates (CERT_OPTIONAL:
    probes without a certificate still connect; what they may reach is the app's to say)."""
    context.verify_mode = ssl.CERT_OPTIONAL
    context.load_verify_locations(cafile=str(client_ca_file))
    if context.cert_store_stats()["x509_ca"] == 0:
        raise ssl.SSLError(f"{client_ca_file} holds no CA certificate")


class CertificateReloader:
    """Watches the certificate, key and client CA files; changed files serve new handshakes."""

    def __init__(
        self,
        context: ssl.SSLContext,
        cert_file: Path,
        key_file: Path,
        *,
        client_ca_file: Path | None = None,
        interval: float = 10.0,
        on_result: Callable[[str], None] | None = None,
    ) -> None:
        self._listening = context
        self._current = context
        self._cert_file = cert_file
        self._key_file = key_file
        self._client_ca_file = client_ca_file
        self._files = (cert_file, key_file) + ((client_ca_file,) if client_ca_file else ())
        self._interval = interval
        self._on_result = on_result
        self._loaded = self._signature()
        context.sni_callback = self._select

    @property
    def context(self) -> ssl.SSLContext:
        """The context new handshakes use."""
        return self._current

    def _select(
        self, connection: ssl.SSLObject | ssl.SSLSocket, server_name: str | None, _: ssl.SSLContext
    ) -> None:
        current = self._current
        if current is not self._listening:
            connection.context = current

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
        try:
            context = server_context(self._cert_file, self._key_file, self._client_ca_file)
        except (OSError, ssl.SSLError) as exc:
            log.warning("TLS files not reloaded, keeping the previous ones: %s", exc)
            self._report("failed")
            return False
        self._current = context
        self._loaded = current
        log.info("TLS files reloaded: %s", ", ".join(str(file) for file in self._files))
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
