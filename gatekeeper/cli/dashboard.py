"""`gatekeeper dashboard`: the auditors' web page and report API, a process of its own."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from gatekeeper.cli.context import console_err, open_current_store, state


def dashboard(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (dashboard.host).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port to listen on (dashboard.port).")
    ] = None,
    tls_cert_file: Annotated[Path | None, typer.Option(help="PEM certificate.")] = None,
    tls_key_file: Annotated[Path | None, typer.Option(help="PEM private key.")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
) -> None:
    """Serve the auditors' dashboard: the web page at / and the report API at /api/v1."""
    import logging

    from gatekeeper.dashboard.app import create_app
    from gatekeeper.dashboard.server import build_server

    settings = state(ctx).settings()
    options = settings.dashboard
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    # Refuse to start on a database that was never migrated.
    store = open_current_store(settings)
    cert = tls_cert_file or options.tls_cert_file
    key = tls_key_file or options.tls_key_file
    app = create_app(settings, store=store)
    server = build_server(
        app,
        host=host or options.host,
        port=port if port is not None else options.port,
        cert_file=cert,
        key_file=key,
        log_level=log_level,
        shutdown_timeout=options.shutdown_timeout,
    )
    scheme = "https" if cert else "http"
    console_err().print(
        f"dashboard on {scheme}://{server.config.host}:{server.config.port}/ "
        f"(API: /api/v1, OpenAPI: /api/v1/openapi.json)"
    )
    try:
        server.run()
    finally:
        store.close()
