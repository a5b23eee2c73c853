"""`gatekeeper reconcile`, `gatekeeper rollback` and `gatekeeper status`."""

from __future__ import annotations

import getpass
import json
import logging
import signal
import threading
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Literal

import typer
from rich.table import Table

from gatekeeper.audit.store import AuditStore
from gatekeeper.cli.context import console, state
from gatekeeper.errors import CheckFailed, ConfigError
from gatekeeper.reconcile import state as source_state

if TYPE_CHECKING:
    from gatekeeper.reconcile.reconciler import PassResult
    from gatekeeper.reconcile.service import LeaseOptions

# The reconciler's adapters (Git, Kubernetes, Rego) load only when a command needs them.

LeaseNamespace = Annotated[
    str, typer.Option("--lease-namespace", help="Namespace of the leader-election Lease.")
]
LeaseName = Annotated[str, typer.Option("--lease-name", help="Name of the Lease.")]
Identity = Annotated[
    str, typer.Option("--identity", help="This replica's Lease holder name (default host-pid).")
]
NoLease = Annotated[
    bool,
    typer.Option("--no-leader-election", help="Act without holding the Lease (one replica only)."),
]
CacheDir = Annotated[
    Path | None, typer.Option("--cache-dir", help="Where the Git mirrors are kept.")
]


def _lease(no_lease: bool, namespace: str, name: str, identity: str) -> LeaseOptions | None:
    from gatekeeper.reconcile.service import LeaseOptions

    return None if no_lease else LeaseOptions(namespace=namespace, name=name, identity=identity)


def _print_results(results: list[PassResult]) -> None:
    table = Table(title="reconcile pass")
    for column in ("source", "outcome", "commit", "applied", "pruned", "drift", "message"):
        table.add_column(column, overflow="fold")
    for result in results:
        style = "green" if result.ok else "red"
        table.add_row(
            result.source,
            f"[{style}]{result.outcome}[/{style}]",
            (result.commit or "-")[:12],
            str(result.applied),
            str(result.pruned),
            str(result.drifted),
            result.message,
        )
    console.print(table)


def reconcile(
    ctx: typer.Context,
    once: Annotated[
        bool, typer.Option("--once", help="One pass, then exit (1 if any failed).")
    ] = False,
    lease_namespace: LeaseNamespace = "gatekeeper-system",
    lease_name: LeaseName = "gatekeeper-reconciler",
    identity: Identity = "",
    no_leader_election: NoLease = False,
    cache_dir: CacheDir = None,
) -> None:
    """Reconcile every configured source: the loop, or one pass with --once."""
    settings = state(ctx).settings()
    if not settings.sources:
        raise ConfigError("no sources are configured")
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    from gatekeeper.reconcile.service import reconciler_from_settings

    lease = _lease(no_leader_election, lease_namespace, lease_name, identity)
    with reconciler_from_settings(settings, lease=lease, cache_dir=cache_dir) as reconciler:
        elector = reconciler.elector
        if once:
            if elector is not None and not elector.try_acquire():
                raise CheckFailed(f"another replica holds Lease {lease_namespace}/{lease_name}")
            try:
                results = reconciler.run_once()
            finally:
                if elector is not None:
                    elector.release()
            _print_results(results)
            if not all(result.ok for result in results):
                raise typer.Exit(1)
            return
        stop = threading.Event()

        def _stop(signum: int, frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        reconciler.run(stop)


def rollback(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="The source to roll back.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; recorded with the rollback.")],
    to: Annotated[
        str | None,
        typer.Option("--to", help="Commit to return to (default: the last healthy one)."),
    ] = None,
    requested_by: Annotated[
        str | None, typer.Option("--requested-by", help="Who asks (default: the OS user).")
    ] = None,
    lease_namespace: LeaseNamespace = "gatekeeper-system",
    lease_name: LeaseName = "gatekeeper-reconciler",
    identity: Identity = "",
    no_leader_election: NoLease = False,
    cache_dir: CacheDir = None,
) -> None:
    """Return SOURCE to an earlier commit verified for it, and hold it there."""
    if not reason.strip():
        raise ConfigError("--reason must say why")
    settings = state(ctx).settings()
    who = requested_by or getpass.getuser()
    from gatekeeper.reconcile.service import reconciler_from_settings

    lease = _lease(no_leader_election, lease_namespace, lease_name, identity)
    with reconciler_from_settings(settings, lease=lease, cache_dir=cache_dir) as reconciler:
        elector = reconciler.elector
        if elector is not None and not elector.try_acquire():
            raise CheckFailed(f"another replica holds Lease {lease_namespace}/{lease_name}")
        try:
            result = reconciler.rollback(source, to=to, reason=reason, requested_by=who)
        finally:
            if elector is not None:
                elector.release()
    _print_results([result])
    if not result.ok:
        raise typer.Exit(1)


def status(
    ctx: typer.Context,
    output: Annotated[
        Literal["table", "json"], typer.Option("--format", help="table or json.")
    ] = "table",
) -> None:
    """Per source: the synced commit, the last attempt and its result, the latest drift."""
    settings = state(ctx).settings()
    store = AuditStore.from_settings(settings)
    try:
        rows = [source_state.status(store, source.name) for source in settings.sources]
    finally:
        store.close()
    if output == "json":
        console.print_json(json.dumps(rows))
        return
    table = Table(title="sources")
    for column in ("source", "synced", "last attempt", "result", "drift", "held at"):
        table.add_column(column, overflow="fold")
    for row in rows:
        drift = row["drift"]
        table.add_row(
            row["source"],
            (row["synced_commit"] or "-")[:12],
            row["last_attempt"] or "-",
            row["result"] + (f": {'; '.join(row['reasons'])}" if row["reasons"] else ""),
            f"{drift['kind']} {drift['object']} at {drift['at']}" if drift else "-",
            (row["held_at"] or "-")[:12],
        )
    console.print(table)


def register(app: typer.Typer) -> None:
    """Add the three commands to the root CLI."""
    app.command("reconcile")(reconcile)
    app.command("rollback")(rollback)
    app.command("status")(status)
