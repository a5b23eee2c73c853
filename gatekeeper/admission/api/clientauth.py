"""Only the API server may submit reviews: a client certificate check in front of the app.

With `server.clientCaFile` set, every path except the probes and the metrics needs the TLS
client certificate the handshake verified against that CA (`transport` puts it into the
scope), and, with `server.clientNames`, one whose common name is listed. Anything else is
answered 401 or 403 and its connection closed before its body is read, so a forged review
never reaches a decision or the audit store. Paths are refused unless opened here, so an
endpoint added later is guarded too.
"""

from __future__ import annotations

import functools
import json
import logging
from collections.abc import Collection

from cryptography import x509
from cryptography.x509.oid import NameOID
from starlette.types import ASGIApp, Receive, Scope, Send

from gatekeeper.admission.metrics import AdmissionMetrics
from gatekeeper.admission.transport import TLS_EXTENSION

# kubelet's probes and Prometheus show no client certificate.
OPEN_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

log = logging.getLogger(__name__)


class ClientCertificateGate:
    """ASGI middleware: refuse requests without an accepted client certificate."""

    def __init__(self, app: ASGIApp, *, names: Collection[str], metrics: AdmissionMetrics) -> None:
        self._app = app
        self._names = frozenset(names)
        self._metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan" or (scope["type"] == "http" and scope["path"] in OPEN_PATHS):
            await self._app(scope, receive, send)
            return
        refusal = self.refusal(scope)
        if refusal is None:
            await self._app(scope, receive, send)
            return
        status, message = refusal
        client = scope.get("client")
        log.warning(
            "refused %s %s from %s: %s",
            scope.get("method", scope["type"]),
            scope.get("path", ""),
            f"{client[0]}:{client[1]}" if client else "an unknown client",
            message,
        )
        self._metrics.bad_requests.labels(reason="client_certificate").inc()
        if scope["type"] != "http":
            return
        content = json.dumps({"code": status, "message": message}).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(content)).encode()),
            # The body is never read: the connection cannot carry another request.
            (b"connection", b"close"),
        ]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": content})

    def refusal(self, scope: Scope) -> tuple[int, str] | None:
        """(status, reason) to refuse the request with, or None to let it through."""
        tls = (scope.get("extensions") or {}).get(TLS_EXTENSION)
        if not tls or not tls.get("client_cert_chain") or tls.get("client_cert_error"):
            return 401, "a client certificate issued by server.clientCaFile is required"
        if not self._names:
            return None
        subject = str(tls.get("client_cert_name") or "")
        names = _common_names(subject)
        if not names & self._names:
            return 403, f"the client certificate {subject!r} is not in server.clientNames"
        return None


# Parsing a subject costs about 10 µs; the API server shows the same one on every request.
@functools.lru_cache(maxsize=64)
def _common_names(subject: str) -> frozenset[str]:
    try:
        name = x509.Name.from_rfc4514_string(subject)
    except ValueError:
        return frozenset()
    return frozenset(
        str(attribute.value) for attribute in name.get_attributes_for_oid(NameOID.COMMON_NAME)
    )
