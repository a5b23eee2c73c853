"""Serving the dashboard with uvicorn, over TLS when certificate files are given."""

from __future__ import annotations

import math
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from gatekeeper.admission.graceful import GracefulServer
from gatekeeper.admission.tls import CertificateReloader
from gatekeeper.dashboard.api.deps import DashboardParts
from gatekeeper.errors import ConfigError


def build_server(
    app: FastAPI,
    *,
    host: str,
    port: int,
    cert_file: Path | None = None,
    key_file: Path | None = None,
    log_level: str = "warning",
    tls_reload_interval: float = 10.0,
    shutdown_timeout: float = 25.0,
) -> GracefulServer:
    """A uvicorn server for the dashboard app; both TLS files or neither.

    On SIGTERM `/readyz` turns false, no connection is accepted, and responses under way
    (streamed exports, reports being made) get `shutdown_timeout` seconds to finish; one still
    streaming then is cut: its connection closes before the chunked body's end, which every
    HTTP client reports as an incomplete response rather than a short one.
    """
    if (cert_file is None) != (key_file is None):
        raise ConfigError("give both a TLS certificate file and a key file, or neither")
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        ssl_certfile=cert_file,
        ssl_keyfile=key_file,
        log_level=log_level,
        log_config=None,
        access_log=False,
        lifespan="on",
        timeout_graceful_shutdown=math.ceil(shutdown_timeout),
    )
    try:
        config.load()
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the TLS certificate or key: {exc}") from exc
    if config.ssl is not None and cert_file is not None and key_file is not None:
        # A renewed certificate (cert-manager rewrites the Secret's files) is taken up without
        # a restart; the app's lifespan runs the reloader.
        app.state.tls_reloader = CertificateReloader(
            config.ssl, cert_file, key_file, interval=tls_reload_interval
        )
    parts: DashboardParts | None = getattr(app.state, "parts", None)
    return GracefulServer(config, on_stopping=parts.stopping.set if parts is not None else None)
