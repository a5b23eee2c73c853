"""`gatekeeper reconcile`, `gatekeeper rollback` and `gatekeeper status`."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from gatekeeper.cli import signals
from gatekeeper.cli.context import console, open_store, state
from gatekeeper.cli.options import TextOrJson, TextOrJsonOption
from gatekeeper.errors import CheckFailed, ConfigError

if TYPE_CHECKING:
    from gatekeeper.audit.store import AuditStore
    from gatekeeper.reconcile.followers import Followers
    from gatekeeper.reconcile.receiver_server import ReceiverServer
    from gatekeeper.reconcile.reconciler import PassResult, Reconciler
    from gatekeeper.reconcile.service import LeaseOptions
    from gatekeeper.settings import Settings

# The reconciler's adapters (Git, Kubernetes, Rego, the store), and even logging, load only when
# a command runs: `gatekeeper --help` loads this module.

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
    """The pass as a table of `Text` cells: messages quote paths and names from Git."""
    from rich.table import Table
    from rich.text import Text

    table = Table(title="reconcile pass")
    for column in ("source", "outcome", "commit", "applied", "pruned", "drift", "message"):
        table.add_column(column, overflow="fold")
    for result in results:
        style = "green" if result.ok else "red"
        table.add_row(
            Text(result.source),
            Text(result.outcome, style=style),
            Text((result.commit or "-")[:12]),
            Text(str(result.applied)),
            Text(str(result.pruned)),
            Text(str(result.drifted)),
            Text(result.message),
        )
    console().print(table)


def _require_ok(results: list[PassResult]) -> None:
    failed = [result for result in results if not result.ok]
    if failed:
        first = failed[0]
        raise CheckFailed(
            f"{len(failed)} of {len(results)} sources did not reconcile; "
            f"{first.source}: {first.outcome}: {first.message}"
        )


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
    """Reconcile every configured source: the loop, or one pass with --once.

    SIGTERM or Ctrl-C: nothing more is applied, what was is recorded, the Lease is given up;
    the loop then exits 0, an interrupted --once pass 130.
    """
    settings = state(ctx).settings()
    if once and not settings.sources:
        raise ConfigError("no sources are configured")
    import logging

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    if not settings.sources:
        # A chart installed before any source is configured: the loop still leads, signs
        # checkpoints and delivers the webhook's records, rather than crash-looping.
        logging.getLogger(__name__).warning(
            "no sources are configured: nothing to sync until the configuration names some"
        )
    from gatekeeper.reconcile.followers import followers_from_settings
    from gatekeeper.reconcile.service import reconciler_from_settings

    lease = _lease(no_leader_election, lease_namespace, lease_name, identity)
    with (
        signals.stop_requested() as stop,
        reconciler_from_settings(
            settings, lease=lease, cache_dir=cache_dir, stop=stop
        ) as reconciler,
        _opened_store(settings) as store,
    ):
        elector = reconciler.elector
        leads = elector.is_leader if elector is not None else lambda: True
        with followers_from_settings(settings, store, active=leads) as followers:
            if once:
                if elector is not None and not elector.try_acquire():
                    raise CheckFailed(f"another replica holds Lease {lease_namespace}/{lease_name}")
                try:
                    followers.open_cursors()
                    results = reconciler.run_once()
                    # Notifications and reports of the pass go out after it, never in it.
                    if not followers.empty:
                        followers.drain(settings.notifications.drain_timeout)
                finally:
                    if elector is not None:
                        elector.release()
                _print_results(results)
                _stop_if_asked(stop.is_set())
                _require_ok(results)
                return
            _run_loop(settings, reconciler, store, followers, stop)


@contextmanager
def _opened_store(settings: Settings) -> Iterator[AuditStore]:
    store = open_store(settings)
    try:
        yield store
    finally:
        store.close()


def _run_loop(
    settings: Settings,
    reconciler: Reconciler,
    store: AuditStore,
    followers: Followers,
    stop: threading.Event,
) -> None:
    from gatekeeper.audit import checkpoints

    scheduler = checkpoints.scheduler_from_settings(store, settings)
    if scheduler is not None:
        scheduler.start()
    followers.start()
    receivers: ReceiverServer | None = None
    try:
        receivers = _start_receivers(settings, reconciler, store)
        reconciler.run(stop)
    finally:
        if receivers is not None:
            receivers.stop()
        followers.stop()
        if scheduler is not None:
            scheduler.stop()


def _stop_if_asked(asked: bool) -> None:
    """A one-off command that was asked to stop says so and exits as Ctrl-C does."""
    if asked:
        console().print("stopped on request (SIGTERM or Ctrl-C); what was applied is recorded")
        raise typer.Exit(signals.INTERRUPTED)


def _start_receivers(
    settings: Settings, reconciler: Reconciler, store: AuditStore
) -> ReceiverServer | None:
    """The push receivers on their own port, when `receivers.enabled`."""
    if not settings.receivers.enabled:
        return None
    from gatekeeper.reconcile.receiver_server import ReceiverServer, build_app

    elector = reconciler.elector
    app = build_app(
        settings.receivers,
        sources=reconciler.sources,
        trigger=reconciler.trigger,
        record=store.append,
        leading=elector.is_leader if elector is not None else lambda: True,
        actor=reconciler.actor,
    )
    server = ReceiverServer(app, settings.receivers)
    server.start()
    return server


def rollback(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="The source to roll back.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; recorded with the rollback.")],
    to: Annotated[
        str | None,
        typer.Option(
            "--to",
            help="Commit to return to (default: the newest healthy one the current commit "
            "descends from).",
        ),
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
    names = [configured.name for configured in settings.sources]
    if source not in names:
        # Said before Kubernetes is reached: no retry would make an unknown source known.
        raise ConfigError(f"unknown source {source!r}; configured: {', '.join(names) or 'none'}")
    import getpass

    who = requested_by or getpass.getuser()
    from gatekeeper.reconcile.service import reconciler_from_settings

    lease = _lease(no_leader_election, lease_namespace, lease_name, identity)
    with (
        signals.stop_requested() as stop,
        reconciler_from_settings(
            settings, lease=lease, cache_dir=cache_dir, stop=stop
        ) as reconciler,
    ):
        elector = reconciler.elector
        if elector is not None and not elector.try_acquire():
            raise CheckFailed(f"another replica holds Lease {lease_namespace}/{lease_name}")
        try:
            result = reconciler.rollback(source, to=to, reason=reason, requested_by=who)
        finally:
            if elector is not None:
                elector.release()
    _print_results([result])
    _stop_if_asked(stop.is_set())
    _require_ok([result])


def status(
    ctx: typer.Context,
    output: TextOrJsonOption = TextOrJson.text,
) -> None:
    """Per source: the synced commit, the last attempt and its result, the latest drift."""
    from gatekeeper.reconcile import state as source_state

    settings = state(ctx).settings()
    store = open_store(settings)
    try:
        rows = [source_state.status(store, source.name) for source in settings.sources]
    finally:
        store.close()
    if output is TextOrJson.json:
        console().print_json(json.dumps(rows))
        return
    for row in rows:
        _print_status(row)


def _when(iso: str | None) -> str:
    return iso[:19].replace("T", " ") if iso else "-"


def _print_status(row: dict[str, Any]) -> None:
    """One block per source, like `kubectl describe`: readable at any terminal width."""
    from rich.text import Text

    style = {"applied": "green", "rejected": "red", "failed": "red"}.get(row["result"], "")
    console().print(Text(row["source"], style="bold"))
    synced = row["synced_commit"]
    console().print(
        f"  synced commit  {synced[:12]} at {_when(row['synced_at'])}"
        if synced
        else "  synced commit  -"
    )
    console().print(
        Text.assemble(
            "  last attempt   ", (str(row["result"]), style), f" at {_when(row['last_attempt'])}"
        )
    )
    for reason in row["reasons"]:
        console().print(f"                 {reason}", markup=False)
    drift = row["drift"]
    if drift:
        console().print(
            f"  drift          {drift['kind']} {drift['object']} at {_when(drift['at'])}",
            markup=False,
        )
    else:
        console().print("  drift          -")
    health = row["health"]
    if health:
        console().print(f"  health         {health['kind']} ({(health['commit'] or '-')[:12]})")
    if row["held_at"]:
        console().print(f"  held at        {row['held_at'][:12]} (after a rollback)")
