"""`gatekeeper serve`: the admission webhook (and its health and metrics endpoints)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from gatekeeper.cli.context import console_err, open_store, state

if TYPE_CHECKING:
    import uvicorn


def serve(
    ctx: typer.Context,
    host: Annotated[str | None, typer.Option(help="Address to listen on (server.host).")] = None,
    port: Annotated[
        int | None, typer.Option(min=1, max=65535, help="Port to listen on (server.port).")
    ] = None,
    tls_cert_file: Annotated[
        Path | None, typer.Option(help="PEM certificate; reloaded when the file changes.")
    ] = None,
    tls_key_file: Annotated[Path | None, typer.Option(help="PEM private key.")] = None,
    log_level: Annotated[str, typer.Option(help="uvicorn log level.")] = "warning",
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Processes sharing the port, each with its own policy engines and audit "
            "appender; /metrics adds up all of them.",
        ),
    ] = 1,
) -> None:
    """Serve the admission webhook: POST /validate, /healthz, /readyz, /metrics."""
    import logging
    import tempfile

    from gatekeeper.admission import metrics
    from gatekeeper.admission import server as admission_server
    from gatekeeper.admission.app import create_app
    from gatekeeper.admission.errors import AdmissionError

    settings = state(ctx).settings()
    server_settings = settings.server
    cert = tls_cert_file or server_settings.tls_cert_file
    key = tls_key_file or server_settings.tls_key_file
    logging.basicConfig(level=log_level.upper(), format="%(levelname)s %(name)s: %(message)s")
    listen = admission_server.Listen(
        host=host or server_settings.host,
        port=port if port is not None else server_settings.port,
        cert_file=cert,
        key_file=key,
        reload_interval=server_settings.tls_reload_interval,
    )
    # Refuse to start on a database that was never migrated, rather than deny every request.
    probe = open_store(settings)
    try:
        probe.head()
    finally:
        probe.close()
    scheme = "https" if cert else "http"
    if server_settings.client_ca_file is None:
        logging.getLogger("gatekeeper.serve").warning(
            "server.clientCaFile is not set: any client that reaches %s:%d can submit "
            "admission reviews, which are decided and recorded as if the API server sent "
            "them; set it to the CA of the API server's client certificate (docs/chart.md)",
            listen.host,
            listen.port,
        )

    def make_server() -> uvicorn.Server:
        # The app owns its store and appender and closes them when the server stops.
        return admission_server.build_server(create_app(settings), listen, log_level=log_level)

    if workers == 1:
        uvicorn_server = make_server()
        console_err().print(f"admission webhook on {scheme}://{listen.host}:{listen.port}/validate")
        uvicorn_server.run()
        return
    sock = admission_server.bind(listen.host, listen.port)
    console_err().print(
        f"admission webhook on {scheme}://{listen.host}:{listen.port}/validate "
        f"({workers} processes)"
    )
    with tempfile.TemporaryDirectory(prefix="gatekeeper-metrics-") as shared:
        metrics.share_between_processes(Path(shared))
        code = admission_server.serve_workers(make_server, sock, workers)
    sock.close()
    if code:
        raise AdmissionError("a webhook process failed (see its log); the others were stopped")
