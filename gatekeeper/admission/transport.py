"""The HTTP protocol the webhook is served with: uvicorn's httptools protocol, plus the TLS
client certificate in every request's scope and a deadline on each request's headers.

uvicorn puts nothing of the TLS connection into the ASGI scope, and the certificate a client
showed belongs to its connection, not to a request. So each connection reads its peer's
certificate once, when the handshake is done, and every request on it carries the ASGI TLS
extension (`scope["extensions"]["tls"]`, keys `client_cert_chain`, `client_cert_name` and
`client_cert_error`). With the client CA loaded in `ssl.CERT_OPTIONAL` mode, a certificate that
does not verify fails the handshake, so a certificate that is there has been verified; one that
was not (no client CA configured) is marked with an error and never counts.

A client that opens a connection and then sends no request, or only part of its headers, is
disconnected after `request_timeout` seconds; the body's own deadline is `RequestDeadline`'s.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any, ClassVar, cast

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

TLS_EXTENSION = "tls"
_NOT_VERIFIED = "the client certificate was not verified (no client CA is configured)"


def tls_extension(transport: asyncio.BaseTransport) -> dict[str, Any] | None:
    """The ASGI TLS extension for a connection; None when it is not over TLS."""
    ssl_object: ssl.SSLObject | None = transport.get_extra_info("ssl_object")
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    extension: dict[str, Any] = {
        "server_cert": None,
        "client_cert_chain": [],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": None,
        "cipher_suite": None,
    }
    if der:
        extension["client_cert_chain"] = [ssl.DER_cert_to_PEM_cert(der)]
        extension["client_cert_name"] = _subject(der)
        # The parsed form is only given for a certificate the handshake verified.
        if not ssl_object.getpeercert():
            extension["client_cert_error"] = _NOT_VERIFIED
    return extension


def _subject(der: bytes) -> str:
    from cryptography import x509

    return x509.load_der_x509_certificate(der).subject.rfc4514_string()


class WebhookProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the client certificate and a header deadline."""

    request_timeout: ClassVar[float] = 5.0

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._tls = tls_extension(transport)
        self._headers_due: asyncio.TimerHandle | None = None
        self._arm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._tls is not None:
            self.scope["extensions"] = {TLS_EXTENSION: cast(dict[object, object], self._tls)}
        self._arm()

    def on_headers_complete(self) -> None:
        self._disarm()
        super().on_headers_complete()

    def _arm(self) -> None:
        if self._headers_due is None:
            self._headers_due = self.loop.call_later(self.request_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._headers_due is not None:
            self._headers_due.cancel()
            self._headers_due = None

    def _too_slow(self) -> None:
        self._headers_due = None
        self.logger.warning(
            "closing a connection from %s: no complete request headers within %g s",
            _address(self.client),
            self.request_timeout,
        )
        self.transport.close()


def protocol_class(request_timeout: float) -> type[WebhookProtocol]:
    """`WebhookProtocol` with the given header deadline, for `uvicorn.Config(http=...)`."""
    return type("WebhookProtocol", (WebhookProtocol,), {"request_timeout": request_timeout})


def _address(client: tuple[str, int] | None) -> str:
    return f"{client[0]}:{client[1]}" if client else "an unknown client"
