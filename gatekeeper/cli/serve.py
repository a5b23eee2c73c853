"""`gatekeeper serve`: the admission webhook (and its health and metrics endpoints)."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated

import typer

from gatekeeper.admission import server as admission_server
from gatekeeper.admission.app import create_app
from gatekeeper.audit.store import AuditStore
from gatekeeper.cli.context import console_err, state


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (server.host).")] = None,
    port: Annotated[int | None, typer.Option(help="Port to listen on (server.port).")] = None,
    tls_cert_file: Annotated[
        Path | None, typer.Option(help="PEM certificate; reloaded when the file changes.")
    ] = None,
    tls_key_file: Annotated[Path | None, typer.Option(help="PEM private key.")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Serve the admission webhook: POST /validate, /healthz, /readyz, /metrics."""
    settings = state(ctx).settings()
    server_settings = settings.server
    cert = tls_cert_file or settings.resolve(server_settings.tls_cert_file)
    key = tls_key_file or settings.resolve(server_settings.tls_key_file)
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    store = AuditStore.from_settings(settings)
    # Refuse to start on a database that was never migrated, rather than deny every request.
    store.head()
    app = create_app(settings, store=store)
    listen = admission_server.Listen(
        host=host or server_settings.host,
        port=port if port is not None else server_settings.port,
        cert_file=cert,
        key_file=key,
        reload_interval=server_settings.tls_reload_interval,
    )
    uvicorn_server = admission_server.build_server(app, listen, log_level=log_level)
    scheme = "https" if cert else "http"
    console_err.print(f"admission webhook on {scheme}://{listen.host}:{listen.port}/validate")
    try:
        uvicorn_server.run()
    finally:
        store.close()
