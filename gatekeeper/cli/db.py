"""`gatekeeper db`: schema migrations of the audit store."""

from __future__ import annotations

from typing import Annotated

import typer

from gatekeeper.audit import migrate
from gatekeeper.audit.store import AuditStore
from gatekeeper.cli.context import console, state

app = typer.Typer(help="Audit database schema.", no_args_is_help=True)


@app.command()
def upgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Apply migrations up to REVISION (alembic upgrade head)."""
    settings = state(ctx).settings()
    store = AuditStore.from_settings(settings)
    try:
        migrate.upgrade(store.engine, revision)
        current = migrate.current_revision(store.engine)
    finally:
        store.close()
    console.print(f"{settings.database.redacted_url()}: schema at revision {current}")


@app.command()
def downgrade(
    ctx: typer.Context,
    revision: Annotated[str, typer.Argument(help="Target revision; `base` removes everything.")],
) -> None:
    """Take the schema down to REVISION."""
    settings = state(ctx).settings()
    store = AuditStore.from_settings(settings)
    try:
        migrate.downgrade(store.engine, revision)
        current = migrate.current_revision(store.engine)
    finally:
        store.close()
    console.print(f"{settings.database.redacted_url()}: schema at revision {current or 'base'}")


@app.command()
def current(ctx: typer.Context) -> None:
    """Print the schema revision of the configured database."""
    settings = state(ctx).settings()
    store = AuditStore.from_settings(settings)
    try:
        revision = migrate.current_revision(store.engine)
    finally:
        store.close()
    console.print(revision or "base")
